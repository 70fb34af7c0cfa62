// The OpenBLAS binding against a float64 reference: every transpose combination, alpha, accumulate,
// operands at offsets and in shared memory, bad sizes rejected. Skipped, saying why, where the
// binding was not built; in CI (which installs libopenblas-dev) it must be built.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gemmParams } from '../../compiler/codegen/cpu.ts';
import { loadNativeBlas } from './native-blas.ts';

const native = loadNativeBlas();
const why = native.ok ? '' : native.reason;

function refGemm(a: Float32Array, b: Float32Array, c0: Float32Array, M: number, K: number, N: number, tA: boolean, tB: boolean, alpha: number, acc: boolean): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (tA ? a[k * M + i]! : a[i * K + k]!) * (tB ? b[j * K + k]! : b[k * N + j]!);
      out[i * N + j] = alpha * s + (acc ? c0[i * N + j]! : 0);
    }
  return out;
}

const fill = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));

describe('native BLAS (OpenBLAS sgemm through N-API)', () => {
  it.runIf(process.env.CI === 'true')('is built in CI (.ci/run installs libopenblas-dev; npm ci builds it)', () => {
    expect(native.ok, why).toBe(true);
  });

  it.skipIf(!native.ok)(`equals a float64 gemm for every transpose, alpha, accumulate, offsets and shared memory${why ? ` (skipped: ${why})` : ''}`, () => {
    if (!native.ok) return;
    const { gemm } = native.blas;
    fc.assert(
      fc.property(
        fc.record({ M: fc.integer({ min: 0, max: 40 }), K: fc.integer({ min: 0, max: 40 }), N: fc.integer({ min: 0, max: 40 }), tA: fc.boolean(), tB: fc.boolean(), acc: fc.boolean(), alpha: fc.constantFrom(1, -0.5, 2), off: fc.integer({ min: 0, max: 5 }), shared: fc.boolean() }),
        ({ M, K, N, tA, tB, acc, alpha, off, shared }) => {
          const mk = (n: number, seed: number) => {
            const buf = shared ? new SharedArrayBuffer((n + off) * 4) : new ArrayBuffer((n + off) * 4);
            const v = new Float32Array(buf, off * 4, n);
            v.set(fill(n, seed));
            return v;
          };
          const a = mk(M * K, 1), b = mk(K * N, 2), c = mk(M * N, 3);
          const want = refGemm(a, b, c, M, K, N, tA, tB, alpha, acc);
          gemm(a, b, c, M, K, N, { transA: tA, transB: tB, alpha, accumulate: acc });
          want.forEach((w, i) => expect(Math.abs(c[i]! - w), `[${i}] ${c[i]} vs ${w}`).toBeLessThan(1e-4 * (1 + K)));
        },
      ),
      { seed: 4242, numRuns: 150 },
    );
  });

  it.skipIf(!native.ok)(`rejects operands shorter than their sizes, with a RangeError${why ? ` (skipped: ${why})` : ''}`, () => {
    if (!native.ok) return;
    const { gemm } = native.blas;
    expect(() => gemm(new Float32Array(5), new Float32Array(6), new Float32Array(4), 2, 3, 2)).toThrow(/shorter/);
    expect(() => gemm(new Float32Array(6), new Float32Array(6), new Float32Array(3), 2, 3, 2)).toThrow(RangeError);
  });
});

describe('native BLAS batched sgemm (one call per kernel)', () => {
  it.skipIf(!native.ok)(`equals per-batch gemm at every offset, transpose, alpha and accumulate${why ? ` (skipped: ${why})` : ''}`, () => {
    if (!native.ok) return;
    const { gemmBatch } = native.blas;
    fc.assert(
      fc.property(
        fc.record({ M: fc.integer({ min: 0, max: 12 }), K: fc.integer({ min: 0, max: 12 }), N: fc.integer({ min: 0, max: 12 }), nb: fc.integer({ min: 1, max: 4 }), tA: fc.boolean(), tB: fc.boolean(), acc: fc.boolean(), alpha: fc.constantFrom(1, -0.5, 0.125), gap: fc.integer({ min: 0, max: 3 }) }),
        ({ M, K, N, nb, tA, tB, acc, alpha, gap }) => {
          // batch i of each operand starts at i·(size + gap)
          const [sa, sb, sc] = [M * K + gap, K * N + gap, M * N + gap];
          const a = fill(nb * sa, 1), b = fill(nb * sb, 2), c = fill(nb * sc, 3);
          const want = Array.from({ length: nb }, (_, i) => refGemm(a.subarray(i * sa), b.subarray(i * sb), c.subarray(i * sc), M, K, N, tA, tB, alpha, acc));
          const offsets = Int32Array.from({ length: 3 * nb }, (_, j) => Math.floor(j / 3) * [sa, sb, sc][j % 3]!);
          const before = c.slice();
          gemmBatch(a, b, c, gemmParams(M, K, N, { transA: tA, transB: tB, alpha, accumulate: acc }), offsets);
          for (let i = 0; i < nb; i++) {
            want[i]!.forEach((w, j) => expect(Math.abs(c[i * sc + j]! - w), `batch ${i} [${j}]`).toBeLessThan(1e-4 * (1 + K)));
            for (let j = M * N; j < sc; j++) expect(c[i * sc + j]).toBe(before[i * sc + j]); // the gaps are untouched
          }
        },
      ),
      { seed: 4243, numRuns: 120 },
    );
  });

  it.skipIf(!native.ok)(`a long batch of small products, shared by two threads, equals the reference product by product${why ? ` (skipped: ${why})` : ''}`, () => {
    if (!native.ok) return;
    const { gemmBatch } = native.blas;
    // 400 products of 9×7·7×11 (one BLAS thread each, taken by the caller and a helper thread), C
    // interleaved with a leading dimension, accumulate on: a product run twice or skipped shows
    const [M, K, N, nb] = [9, 7, 11, 400];
    const a = fill(nb * M * K, 4), b = fill(nb * K * N, 5), c = fill(nb * M * N, 6);
    const ldc = nb * N; // C as [M][batch][N]
    const offsets = Int32Array.from({ length: 3 * nb }, (_, j) => [M * K, K * N, N][j % 3]! * Math.floor(j / 3));
    const want = Array.from({ length: nb }, (_, i) => {
      const ci = new Float32Array(M * N);
      for (let r = 0; r < M; r++) for (let q = 0; q < N; q++) ci[r * N + q] = c[r * ldc + i * N + q]!;
      return refGemm(a.subarray(i * M * K), b.subarray(i * K * N), ci, M, K, N, false, false, 0.5, true);
    });
    const p = gemmParams(M, K, N, { alpha: 0.5, accumulate: true });
    p[9] = ldc;
    for (let rep = 0; rep < 3; rep++) {
      const got = c.slice();
      gemmBatch(a, b, got, p, offsets);
      for (let i = 0; i < nb; i++)
        for (let r = 0; r < M; r++) for (let q = 0; q < N; q++) expect(Math.abs(got[r * ldc + i * N + q]! - want[i]![r * N + q]!), `batch ${i} [${r}, ${q}]`).toBeLessThan(1e-4);
    }
  });

  it.skipIf(!native.ok)(`prefill: C = Σ terms (broadcast or strided) before the product with beta 1; terms past their arrays are refused${why ? ` (skipped: ${why})` : ''}`, () => {
    if (!native.ok) return;
    const { gemmBatch } = native.blas;
    const [M, K, N] = [5, 4, 6];
    const a = fill(M * K, 7), b = fill(K * N, 8), bias = fill(N, 9), res = fill(M * 10, 10); // res: rows of 10, C reads 6
    const p = gemmParams(M, K, N, { alpha: 2, accumulate: true });
    const c = new Float32Array(M * N).fill(NaN); // prefill overwrites whatever was in C
    gemmBatch(a, b, c, p, new Int32Array(3), Float64Array.from([2, 0, 0, 1, 3, 10, 1]), bias, res);
    const want = refGemm(a, b, Float32Array.from({ length: M * N }, (_, i) => bias[i % N]! + res[3 + Math.floor(i / N) * 10 + (i % N)]!), M, K, N, false, false, 2, true);
    want.forEach((w, i) => expect(Math.abs(c[i]! - w), `[${i}]`).toBeLessThan(1e-4));
    const call = (pre: number[], t: Float32Array) => () => gemmBatch(a, b, c, p, new Int32Array(3), Float64Array.from(pre), t);
    expect(call([1, 0, 10, 1], res)).not.toThrow();
    expect(call([1, 5, 10, 1], res)).toThrow(RangeError); // 5 + 4·10 + 5 = 50: one past the end
    expect(call([5, 0, 0, 1], bias)).toThrow(RangeError); // more than 4 terms
    expect(() => gemmBatch(a, b, c, p, new Int32Array(6), Float64Array.from([1, 0, 0, 1]), bias)).toThrow(RangeError); // two batches
  });

  it.skipIf(!native.ok)(`rejects a batch offset past its operand, with a RangeError${why ? ` (skipped: ${why})` : ''}`, () => {
    if (!native.ok) return;
    const { gemmBatch } = native.blas;
    const p = gemmParams(2, 3, 2);
    const call = (offsets: number[]) => () => gemmBatch(new Float32Array(12), new Float32Array(12), new Float32Array(8), p, Int32Array.from(offsets));
    expect(call([0, 0, 0, 6, 6, 4])).not.toThrow();
    expect(call([0, 0, 0, 6, 6, 5])).toThrow(RangeError);
    expect(call([0, 0, -1])).toThrow(RangeError);
    expect(call([0, 7, 0])).toThrow(RangeError);
  });

  it.skipIf(!native.ok)(`allocates nothing on the JS heap once warm (alpha is not a small integer)${why ? ` (skipped: ${why})` : ''}`, () => {
    if (!native.ok) return;
    const { gemmBatch } = native.blas;
    const a = fill(8 * 16, 1), b = fill(8 * 16, 2), c = new Float32Array(8 * 16);
    const offsets = Int32Array.from({ length: 24 }, (_, j) => Math.floor(j / 3) * 16);
    const p = gemmParams(4, 4, 4, { transB: true, alpha: 0.125 });
    const call = () => gemmBatch(a, b, c, p, offsets);
    for (let i = 0; i < 20000; i++) call(); // optimised by V8
    const h0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < 5000; i++) call();
    // process.memoryUsage() itself allocates a few hundred bytes; 5000 boxed alphas would be 80 KB
    expect(process.memoryUsage().heapUsed - h0).toBeLessThan(8000);
  });
});
