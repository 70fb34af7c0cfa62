#!/usr/bin/env node
// The `lily` command: TypeScript sources run through tsx's loader, so there is no build step to forget.
import { register } from 'tsx/esm/api';
// `lily … | head`: a closed pipe ends the command quietly, as for any Unix tool.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
register();
const { main } = await import('../compiler/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
