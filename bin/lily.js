#!/usr/bin/env node
// The `lily` command: runs the compiled, bundled JavaScript in dist/cli/ (`npm run build`). In a development
// checkout (the TypeScript sources beside it) it runs the sources through tsx instead whenever
// dist/ is missing or older than a source file, so an edit is never hidden by a stale build.
import { existsSync, readdirSync, statSync } from 'node:fs';

// `lily … | head`: a closed pipe ends the command quietly, as for any Unix tool.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });

const root = new URL('../', import.meta.url);
const stamp = new URL('dist/.build-stamp', root);

/** Newest modification time of the TypeScript sources under the given folders (ms). */
function newestSource(dirs) {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') || e.name.endsWith('.ohm')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of dirs) walk(new URL(d, root).pathname);
  return newest;
}

// `lily --version` needs nothing but the version.
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  const { readFileSync } = await import('node:fs');
  console.log(JSON.parse(readFileSync(new URL('package.json', root), 'utf8')).version);
  process.exit(0);
}

const checkout = existsSync(new URL('compiler/cli/main.ts', root));
const useSources = checkout && (!existsSync(stamp) || statSync(stamp).mtimeMs < newestSource(['compiler', 'runtime']) || !!process.env.LILY_FROM_SOURCE);
let main;
if (useSources) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../compiler/cli/main.ts'));
} else ({ main } = await import('../dist/cli/main.js'));
process.exitCode = await main(argv);
