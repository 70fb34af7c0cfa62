#!/usr/bin/env node
// `npm run bench`: runs bench/index.ts through tsx's loader. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE,
// which some machines set and which force an older, much slower OpenBLAS kernel, are removed for the
// benchmark (OpenBLAS reads them when it loads, so the process restarts itself without them; the
// PyTorch peer inherits the same environment).
import { spawnSync } from 'node:child_process';
import { register } from 'tsx/esm/api';

if (process.env.OPENBLAS_CORETYPE !== undefined || process.env.OPENBLAS_L2_SIZE !== undefined) {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  process.exit(r.status ?? 1);
}
register();
await import('../bench/index.ts');
