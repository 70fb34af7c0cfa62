/**
 * Generated code → gpu.js: a matmul kernel created FROM A STRING, with every
 * size inlined as a literal, runs on cpu, webasm and webgpu (llvmpipe here)
 * and matches a float64 reference within float32 tolerance. On webgpu two
 * kernels are chained with `pipeline: true` and no readback between them.
 *
 * Traps (hit or re-confirmed while writing this):
 *  - The string must start with exactly `function` — no leading whitespace
 *    or newline (a template literal starting with "\n  function" is not
 *    recognised as a function) and no arrow functions.
 *  - Loop bounds must be literals (`k < 64`): a bound read from an argument
 *    or `this.output` is silently capped at loopMaxIterations (1000).
 *  - A flat Float32Array is read as 2-D through `input(flat, [width, height])`
 *    — width (columns) FIRST — and indexed `a[row][col]`.
 *  - Output `[N, M]` (width first) reads back as M row Float32Arrays;
 *    `this.thread.x` is the column, `this.thread.y` the row.
 *  - webgpu: every call returns a Promise, with or without pipeline. With
 *    `pipeline: true` the awaited value is a GPU buffer handle that the next
 *    kernel takes as an argument directly; `toArray()` is itself a Promise.
 *    `delete()` every handle at its last use or GPU memory grows without
 *    bound (~1 GB RSS after 2,000 steps). The default `immutable: false`
 *    would make the kernel reuse one output buffer for every call, so an
 *    earlier handle silently shows later data: keep `immutable: true` for
 *    chained kernels.
 *  - cpu mode accumulates in float64 and webasm/webgpu in float32: compare
 *    each against float64 with a float32 error bound, never against each
 *    other bit-for-bit.
 *  - Dawn logs "maxDynamic…BuffersPerPipelineLayout artificially reduced" on
 *    stderr for each adapter request: noise, not an error.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { GPU as GPUJS, IKernelRunShortcut } from 'gpu.js';
import { createGPU } from './gpujs-modes.ts';
import { openWebGPU } from './webgpu-node.ts';

const require = createRequire(import.meta.url);
const { input } = require('gpu.js') as { input: (v: Float32Array, size: number[]) => unknown };

const M = 48, K = 64, N = 40, P = 24; // non-square on purpose: catches x/y mix-ups

// generated code: shapes as literals, no leading whitespace
const MATMUL_AB = `function(a, b) { let s = 0; for (let k = 0; k < ${K}; k++) { s += a[this.thread.y][k] * b[k][this.thread.x]; } return s; }`;
const MATMUL_CD = `function(c, d) { let s = 0; for (let k = 0; k < ${N}; k++) { s += c[this.thread.y][k] * d[k][this.thread.x]; } return s; }`;

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    x[i] = (s / 2 ** 32) * 2 - 1;
  }
  return x;
}

/** f64 product and Σ|a||b| per cell (for the float32 error bound) */
function ref(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number) {
  const v = new Float64Array(m * n), abs = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0, t = 0;
      for (let q = 0; q < k; q++) {
        const p = a[i * k + q]! * b[q * n + j]!;
        s += p;
        t += Math.abs(p);
      }
      v[i * n + j] = s;
      abs[i * n + j] = t;
    }
  return { v, abs };
}

function expectClose(rows: ArrayLike<number>[], r: { v: Float64Array; abs: Float64Array }, m: number, n: number, k: number, what: string) {
  expect(rows.length, what).toBe(m);
  let worst = 0;
  for (let i = 0; i < m; i++) {
    expect(rows[i]!.length, what).toBe(n);
    for (let j = 0; j < n; j++) {
      const err = Math.abs(rows[i]![j]! - r.v[i * n + j]!);
      const tol = (k + 2) * 2 ** -24 * r.abs[i * n + j]! + 1e-30; // γ_k bound for f32 summation
      worst = Math.max(worst, err / tol);
      if (err > tol) expect.fail(`${what}: [${i}][${j}] = ${rows[i]![j]} vs ${r.v[i * n + j]} (err ${err}, tol ${tol})`);
    }
  }
  return worst;
}

const a = rand(M * K, 1), b = rand(K * N, 2), d = rand(N * P, 3);
const refAB = ref(a, b, M, K, N);

async function runMatmul(gpu: GPUJS): Promise<Float32Array[]> {
  const k = gpu.createKernel(MATMUL_AB, { output: [N, M] }) as IKernelRunShortcut;
  const out = await (k as unknown as (...x: unknown[]) => Promise<Float32Array[]> | Float32Array[])(input(a, [K, M]), input(b, [N, K]));
  return out;
}

describe('gpu.js kernel from a generated string', () => {
  for (const mode of ['cpu', 'webasm'] as const) {
    it(`${mode}: matches float64 within float32 tolerance`, async () => {
      const gpu = await createGPU(mode);
      try {
        const rows = await runMatmul(gpu);
        expectClose(rows, refAB, M, N, K, mode);
      } finally {
        await gpu.destroy();
      }
    });
  }

  it('webgpu: matches float64, and chains two pipeline kernels with no readback between them', async (ctx) => {
    const w = await openWebGPU();
    if ('error' in w) {
      ctx.skip(`webgpu unavailable: ${w.error}`);
      return;
    }
    const gpu = await createGPU('webgpu');
    try {
      // plain call (still a Promise on webgpu)
      const rows = await runMatmul(gpu);
      expectClose(rows, refAB, M, N, K, 'webgpu');

      // count readbacks: gpu.js reads a buffer back with GPUBuffer.mapAsync
      const proto = (globalThis as unknown as { GPUBuffer: { prototype: { mapAsync: (...x: unknown[]) => Promise<void> } } }).GPUBuffer.prototype;
      const orig = proto.mapAsync;
      let maps = 0;
      proto.mapAsync = function (this: unknown, ...x: unknown[]) {
        maps++;
        return orig.apply(this, x);
      };
      try {
        const k1 = gpu.createKernel(MATMUL_AB, { output: [N, M], pipeline: true, immutable: true }) as unknown as (...x: unknown[]) => Promise<GpuHandle>;
        const k2 = gpu.createKernel(MATMUL_CD, { output: [P, M], pipeline: true, immutable: true }) as unknown as (...x: unknown[]) => Promise<GpuHandle>;
        const h1 = await k1(input(a, [K, M]), input(b, [N, K])); // await the handle, no data moves
        const h2 = await k2(h1, input(d, [P, N])); // the GPU buffer goes straight in
        expect(maps).toBe(0);
        h1.delete(); // last use of h1
        const out = (await h2.toArray()) as Float32Array[];
        expect(maps).toBe(1); // the only readback: the final result
        h2.delete();
        // reference for (A·B)·D, with the f32 bound of both stages
        const refABf32 = Float64Array.from(refAB.v);
        const abs1 = refAB.abs;
        const r2 = ref(refABf32, d, M, N, P);
        // stage-1 error propagates through |D|: bound it with Σ_k tol1[i,k]·|d[k,j]|
        const absD = d.map(Math.abs);
        const prop = ref(abs1.map((x) => (K + 2) * 2 ** -24 * x), absD, M, N, P).v;
        for (let i = 0; i < M; i++)
          for (let j = 0; j < P; j++) {
            const err = Math.abs(out[i]![j]! - r2.v[i * P + j]!);
            const tol = (N + 2) * 2 ** -24 * r2.abs[i * P + j]! + prop[i * P + j]! + 1e-30;
            if (err > tol) expect.fail(`chain [${i}][${j}]: ${out[i]![j]} vs ${r2.v[i * P + j]} (err ${err} > ${tol})`);
          }
      } finally {
        proto.mapAsync = orig;
      }
    } finally {
      await gpu.destroy();
    }
  });
});

interface GpuHandle {
  toArray(): Promise<unknown>;
  delete(): void;
}
