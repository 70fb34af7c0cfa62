#!/usr/bin/env node
// `npm install` / `npm ci` hook: build the OpenBLAS binding (native/blas) with node-gyp, from the
// Node headers and Debian's libopenblas-dev already on this machine — nothing is downloaded (node-gyp
// gets --nodedir; without local headers we do not build). Any failure only prints why: the CPU
// backend then uses its WebAssembly GEMM (runtime/backends/native-blas.ts says which one runs).
// LILY_NO_NATIVE=1 skips the build.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const say = (s) => process.stderr.write(`lily: ${s}\n`);
const fallback = (why) => {
  say(`native BLAS not built (${why}); the CPU backend will use its WebAssembly GEMM.`);
  process.exit(0);
};

if (process.env.LILY_NO_NATIVE === '1') fallback('LILY_NO_NATIVE=1');
if (process.platform !== 'linux') fallback(`only built on Linux, this is ${process.platform}`);

// Node's headers next to this node binary (Debian's nodejs, the official tarballs), or NODE_DIR
const nodeDirs = [process.env.LILY_NODE_DIR, path.resolve(process.execPath, '../..'), '/usr', '/usr/local'].filter(Boolean);
const nodeDir = nodeDirs.find((d) => existsSync(path.join(d, 'include/node/node_api.h')) && existsSync(path.join(d, 'include/node/common.gypi')));
if (!nodeDir) fallback(`no Node headers (include/node/node_api.h) under ${nodeDirs.join(', ')}`);

const triple = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch] ?? '';
const cblasDirs = [
  process.env.LILY_CBLAS_INCLUDE,
  `/usr/include/${triple}/openblas-pthread`,
  `/usr/include/${triple}/openblas-openmp`,
  `/usr/include/${triple}/openblas-serial`,
  '/usr/include/openblas',
].filter(Boolean);
const cblas = cblasDirs.find((d) => existsSync(path.join(d, 'cblas.h')));
if (!cblas) fallback(`no OpenBLAS headers (cblas.h in ${cblasDirs.join(', ')}): apt-get install libopenblas-dev`);

const gypCandidates = [
  process.env.npm_config_node_gyp,
  path.resolve(process.execPath, '../../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
].filter(Boolean);
const gyp = gypCandidates.find((p) => existsSync(p));
if (!gyp) fallback('node-gyp not found (it ships with npm)');

try {
  execFileSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodeDir}`, '--loglevel=warn'], {
    cwd: path.join(here, 'blas'),
    env: { ...process.env, LILY_CBLAS_INCLUDE: cblas },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  say(`native BLAS built (OpenBLAS headers ${cblas}); the CPU backend's GEMM runs on OpenBLAS.`);
} catch (e) {
  fallback(`node-gyp failed: ${e.message.split('\n')[0]}`);
}
