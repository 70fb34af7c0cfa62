// npm run bench:cli [-- --json] [-- --runs K]: start-up wall time of the `lily` command as a user
// runs it (node bin/lily.js on the compiled dist/), side by side with bare Node and with the same
// command run from the TypeScript sources through tsx (what `lily` did before dist/ existed).
// Wall time from spawn to exit, median and minimum of K runs, interleaved so load drifts hit all alike.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { benchFlags, median } from './common.ts';

const flags = benchFlags();
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : flags.quick ? 5 : 15;
const root = new URL('../', import.meta.url).pathname;

if (!existsSync(`${root}dist/.build-stamp`)) {
  console.error('bench:cli measures the compiled package: run `npm run build` first');
  process.exit(1);
}

const FILE = 'stdlib/adapters/lily.lily';
const cases: { name: string; args: string[]; env?: Record<string, string> }[] = [
  { name: 'node -e 0 (Node start-up alone)', args: ['-e', '0'] },
  { name: 'lily --version', args: ['bin/lily.js', '--version'] },
  { name: `lily check ${FILE}`, args: ['bin/lily.js', 'check', FILE] },
  { name: `lily check ${FILE} (sources through tsx)`, args: ['bin/lily.js', 'check', FILE], env: { LILY_FROM_SOURCE: '1' } },
];

const times = cases.map(() => [] as number[]);
for (let i = 0; i < runs + 1; i++)
  cases.forEach((c, k) => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, c.args, { cwd: root, env: { ...process.env, ...c.env }, encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr}`);
    if (i > 0) times[k].push(ms); // the first round warms the file cache
  });

const rows = cases.map((c, k) => ({ command: c.name, medianMs: Math.round(median(times[k])), minMs: Math.round(Math.min(...times[k])) }));
const env = { node: process.version, cpus: (await import('node:os')).cpus().length, runs, NODE_EXTRA_CA_CERTS: !!process.env.NODE_EXTRA_CA_CERTS, builtAt: statSync(`${root}dist/.build-stamp`).mtime.toISOString() };
if (flags.json) console.log(JSON.stringify({ env, rows }, null, 2));
else {
  console.log(`lily start-up, wall ms over ${runs} runs (Node ${env.node}, ${env.cpus} CPUs)`);
  console.log(`${'command'.padEnd(58)} ${'median'.padStart(7)} ${'min'.padStart(7)}`);
  for (const r of rows) console.log(`${r.command.padEnd(58)} ${String(r.medianMs).padStart(7)} ${String(r.minMs).padStart(7)}`);
}
