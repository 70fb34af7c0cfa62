// The native GEMM of the CPU backend: OpenBLAS's cblas_sgemm through a small N-API binding
// (native/blas, built at install by native/build.mjs from Debian's libopenblas-dev). Chosen by
// measurement over the WebAssembly SIMD gemm (cpu-gemm.ts): on this project's 2-core Zen 5 with
// AVX-512, OpenBLAS's sgemm runs 5–15× faster than 128-bit wasm SIMD can (bench/gemm.ts prints
// both). Where the binding was not built (no compiler, no OpenBLAS, another OS), loadNativeBlas()
// says why and the CPU backend keeps the wasm gemm. Node-only (node:module).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gemmParams, type GemmBatchFn, type GemmFn } from '../../compiler/codegen/cpu.ts';

interface Binding {
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number, C: Float32Array, ldc: number,
  ): void;
  /**
   * p = [transA, transB, M, N, K, alpha, lda, ldb, beta, ldc]; offsets = (a, b, c) triples, one per
   * batch; prefill = [count, (offset, rowStride, colStride)…] with the terms t0…: C = Σ tᵢ first
   */
  sgemmBatch?(
    p: Float64Array, A: Float32Array, B: Float32Array, C: Float32Array, offsets: Int32Array,
    prefill?: Float64Array, t0?: Float32Array, t1?: Float32Array, t2?: Float32Array, t3?: Float32Array,
  ): void;
  /** 2: leading dimensions, prefill and shared small batches (absent in older builds) */
  abi?: number;
  info(): { config: string; threads: number; cores: number };
  setThreads(n: number): void;
}

export interface NativeBlas {
  /** the same contract as cpu-gemm's gemm(): out = alpha·op(A)·op(B) (+ out when accumulate), row-major */
  gemm: GemmFn;
  /** the same over a batch at element offsets, scalars from gemmParams (one native call; nothing allocated per call) */
  gemmBatch: GemmBatchFn;
  /** e.g. 'OpenBLAS 0.3.21 … Cooperlake MAX_THREADS=64' */
  config: string;
  threads: number;
  setThreads(n: number): void;
}

const BINDING = 'native/blas/build/Release/lily_blas.node';

/** the built binding: looked for in the folders above this module (source tree, dist/, a bundled CLI) */
function bindingFile(): string {
  let dir = new URL('.', import.meta.url);
  for (let up = 0; up < 5; up++, dir = new URL('..', dir)) {
    const f = new URL(BINDING, dir).pathname;
    if (existsSync(f)) return f;
  }
  return new URL(`../../${BINDING}`, import.meta.url).pathname;
}
let loaded: { ok: true; blas: NativeBlas } | { ok: false; reason: string } | null = null;

/** The OpenBLAS binding, or why it is not here (loaded once per process; LILY_BLAS=wasm turns it off). */
export function loadNativeBlas(): { ok: true; blas: NativeBlas } | { ok: false; reason: string } {
  if (loaded) return loaded;
  if (process.env.LILY_BLAS === 'wasm') return (loaded = { ok: false, reason: 'LILY_BLAS=wasm' });
  const file = bindingFile();
  if (!existsSync(file)) return (loaded = { ok: false, reason: `not built (${file} is missing: npm install builds it when libopenblas-dev and g++ are installed)` });
  try {
    const b = createRequire(import.meta.url)(file) as Binding;
    // The scalars travel in one Float64Array (gemmParams): numbers passed as JS arguments would
    // allocate (a non-integer alpha is a heap number), and a warm training step allocates nothing.
    // the compiled kernels rely on leading dimensions and the prefill (abi 2): a binding built from an
    // older source is not used (rebuild it: node native/build.mjs)
    if (!b.sgemmBatch || (b.abi ?? 1) < 2) return (loaded = { ok: false, reason: `${file} was built from an older source (rebuild: node native/build.mjs)` });
    const batch = b.sgemmBatch;
    const gemmBatch: GemmBatchFn = (a, bm, out, p, offsets, pre, t0, t1, t2, t3) =>
      pre ? batch(p, a, bm, out, offsets, pre, t0, t1, t2, t3) : batch(p, a, bm, out, offsets);
    const single = new Int32Array(3);
    const p = new Float64Array(10);
    const gemm: GemmFn = (a, bm, out, M, K, N, o = {}) => gemmBatch(a, bm, out, gemmParams(M, K, N, o, p), single);
    const i = b.info();
    return (loaded = { ok: true, blas: { gemm, gemmBatch, config: i.config, threads: i.threads, setThreads: (n) => b.setThreads(n) } });
  } catch (e) {
    return (loaded = { ok: false, reason: `cannot load ${file}: ${(e as Error).message.split('\n')[0]}` });
  }
}
