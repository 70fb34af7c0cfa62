/**
 * The GEMM candidates that cpu-gemm.ts was chosen against (bench/gemm.ts
 * times them side by side), plus the float64 reference used by the tests.
 * All share the gemm() contract: row-major, out = alpha·op(A)·op(B)
 * (+ out if accumulate).
 *
 * Traps:
 *  - gpu.js kernels read 2-D inputs as `a[row][col]`; passing a flat
 *    Float32Array needs `input(flat, [cols, rows])` (width first).
 *  - gpu.js loops are silently capped at 1000 iterations unless the bound is
 *    a literal: the generated source inlines K (and the transposition) as
 *    literals, so one kernel is compiled per (M, K, N, trans) signature.
 *  - webasm `setAsyncMode(true)` makes every call return a Promise and only
 *    uses the worker pool when the output has ≥ 4,096 cells.
 *  - gpu.js output [N, M] reads back as M row arrays: copying into the flat
 *    `out` is part of the cost.
 */
import { createRequire } from 'node:module';
import type { IKernelRunShortcut } from 'gpu.js';
import type { GemmOptions } from './cpu-gemm.ts';

const require = createRequire(import.meta.url);

export type GemmFn = (
  a: Float32Array, b: Float32Array, out: Float32Array, M: number, K: number, N: number, opts?: GemmOptions,
) => void;
export type AsyncGemmFn = (
  a: Float32Array, b: Float32Array, out: Float32Array, M: number, K: number, N: number, opts?: GemmOptions,
) => Promise<void>;

/** float64 reference: returns alpha·op(A)·op(B) (+ out0 when accumulate) in f64 */
export function gemmRef64(
  a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, opts: GemmOptions = {}, out0?: ArrayLike<number>,
): Float64Array {
  const alpha = opts.alpha ?? 1;
  const r = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = opts.transA ? a[k * M + i]! : a[i * K + k]!;
        const bv = opts.transB ? b[j * K + k]! : b[k * N + j]!;
        s += av * bv;
      }
      r[i * N + j] = alpha * s + (opts.accumulate && out0 ? out0[i * N + j]! : 0);
    }
  }
  return r;
}

function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j]!;
  return t;
}

/** plain i-k-j triple loop (the ENVIRONMENT.md baseline) */
export const gemmJsNaive: GemmFn = (a, b, out, M, K, N, opts = {}) => {
  const A = opts.transA ? transpose(a, K, M) : a;
  const B = opts.transB ? transpose(b, N, K) : b;
  const alpha = opts.alpha ?? 1;
  const acc = new Float32Array(N);
  for (let i = 0; i < M; i++) {
    acc.fill(0);
    for (let k = 0; k < K; k++) {
      const av = A[i * K + k]!;
      const bo = k * N;
      for (let j = 0; j < N; j++) acc[j] += av * B[bo + j]!;
    }
    for (let j = 0; j < N; j++) out[i * N + j] = alpha * acc[j]! + (opts.accumulate ? out[i * N + j]! : 0);
  }
};

/**
 * Cache-blocked JS: 4 rows of A at a time (4 accumulator rows share every
 * B load), K blocked by 256 so the B block stays in L2, inner j loop over a
 * Float32Array row. op() is materialised by a transpose copy.
 */
export const gemmJsBlocked: GemmFn = (a, b, out, M, K, N, opts = {}) => {
  const A = opts.transA ? transpose(a, K, M) : a;
  const B = opts.transB ? transpose(b, N, K) : b;
  const alpha = opts.alpha ?? 1;
  const KC = 256;
  const c0 = new Float32Array(N), c1 = new Float32Array(N), c2 = new Float32Array(N), c3 = new Float32Array(N);
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    c0.fill(0); c1.fill(0); c2.fill(0); c3.fill(0);
    for (let k0 = 0; k0 < K; k0 += KC) {
      const k1 = Math.min(K, k0 + KC);
      for (let k = k0; k < k1; k++) {
        const a0 = A[i * K + k]!, a1 = A[(i + 1) * K + k]!, a2 = A[(i + 2) * K + k]!, a3 = A[(i + 3) * K + k]!;
        const bo = k * N;
        for (let j = 0; j < N; j++) {
          const bv = B[bo + j]!;
          c0[j] += a0 * bv; c1[j] += a1 * bv; c2[j] += a2 * bv; c3[j] += a3 * bv;
        }
      }
    }
    const rows = [c0, c1, c2, c3];
    for (let r = 0; r < 4; r++) {
      const o = (i + r) * N, c = rows[r]!;
      if (opts.accumulate) for (let j = 0; j < N; j++) out[o + j] += alpha * c[j]!;
      else for (let j = 0; j < N; j++) out[o + j] = alpha * c[j]!;
    }
  }
  for (; i < M; i++) {
    c0.fill(0);
    for (let k = 0; k < K; k++) {
      const av = A[i * K + k]!, bo = k * N;
      for (let j = 0; j < N; j++) c0[j] += av * B[bo + j]!;
    }
    const o = i * N;
    for (let j = 0; j < N; j++) out[o + j] = alpha * c0[j]! + (opts.accumulate ? out[o + j]! : 0);
  }
};

/** generated gpu.js kernel source for op(A)·op(B) with every size a literal */
export function gpujsGemmSource(M: number, K: number, N: number, transA = false, transB = false): string {
  void M; void N;
  const av = transA ? 'a[k][this.thread.y]' : 'a[this.thread.y][k]';
  const bv = transB ? 'b[this.thread.x][k]' : 'b[k][this.thread.x]';
  return `function(a, b) { let s = 0; for (let k = 0; k < ${K}; k++) { s += ${av} * ${bv}; } return s; }`;
}

type GpuJs = typeof import('gpu.js');

/**
 * gemm through a gpu.js kernel in `mode` ('cpu' | 'webasm' | …), one kernel
 * cached per signature. `asyncMode` turns on setAsyncMode(true) (webasm: the
 * worker pool). Always returns a Promise so sync and async modes share a shape.
 * Call `destroy()` when done.
 */
export function makeGpuJsGemm(mode: 'cpu' | 'webasm', asyncMode = false): { gemm: AsyncGemmFn; destroy: () => Promise<void> } {
  const gpujs = require('gpu.js') as GpuJs;
  // `input` is exported at run time but missing from gpu.js's typings
  const input = (gpujs as unknown as { input: (v: Float32Array, size: number[]) => unknown }).input;
  const gpu = new gpujs.GPU({ mode });
  const kernels = new Map<string, IKernelRunShortcut>();
  const gemm: AsyncGemmFn = async (a, b, out, M, K, N, opts = {}) => {
    const tA = !!opts.transA, tB = !!opts.transB;
    const key = `${M},${K},${N},${tA},${tB}`;
    let k = kernels.get(key);
    if (!k) {
      const nk = gpu.createKernel(gpujsGemmSource(M, K, N, tA, tB), { output: [N, M], tactic: 'precision' }) as IKernelRunShortcut;
      if (asyncMode) nk.setAsyncMode(true);
      kernels.set(key, nk);
      k = nk;
    }
    const ai = tA ? input(a, [M, K]) : input(a, [K, M]);
    const bi = tB ? input(b, [K, N]) : input(b, [N, K]);
    const rows = (await (k as unknown as (...x: unknown[]) => unknown)(ai, bi)) as Float32Array[];
    const alpha = opts.alpha ?? 1;
    for (let i = 0; i < M; i++) {
      const r = rows[i]!, o = i * N;
      if (opts.accumulate) for (let j = 0; j < N; j++) out[o + j] += alpha * r[j]!;
      else if (alpha === 1) out.set(r, o);
      else for (let j = 0; j < N; j++) out[o + j] = alpha * r[j]!;
    }
  };
  return { gemm, destroy: () => gpu.destroy() };
}
