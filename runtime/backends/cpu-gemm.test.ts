import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuGemmEngine, cpuGemmReady, gemm, WasmGemm, type GemmOptions } from './cpu-gemm.ts';
import { gemmJsBlocked, gemmRef64 } from './gemm-candidates.ts';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    x[i] = (s / 2 ** 32) * 2 - 1;
  }
  return x;
}

/** Σ|op(A)||op(B)| per cell, the scale of the f32 rounding error */
function absProducts(a: Float32Array, b: Float32Array, M: number, K: number, N: number, o: GemmOptions): Float64Array {
  return gemmRef64(a.map(Math.abs), b.map(Math.abs), M, K, N, { transA: o.transA, transB: o.transB });
}

/**
 * |got − ref| ≤ (K+2)·u·|alpha|·Σ|a||b| + u·|ref|: the classic γ_K bound for a
 * float32 dot product (u = 2⁻²⁴), plus the final rounding; loose enough for any
 * summation order, tight enough that a dropped or doubled k term fails.
 */
function check(got: Float32Array, a: Float32Array, b: Float32Array, M: number, K: number, N: number, o: GemmOptions, out0?: Float32Array, cells?: number[]) {
  const ref = gemmRef64(a, b, M, K, N, o, out0);
  const abs = absProducts(a, b, M, K, N, o);
  const u = 2 ** -24;
  const alpha = Math.abs(o.alpha ?? 1);
  for (const idx of cells ?? Array.from({ length: M * N }, (_, i) => i)) {
    const err = Math.abs(got[idx]! - ref[idx]!);
    const tol = (K + 2) * u * alpha * abs[idx]! + 2 * u * Math.abs(ref[idx]!) + (o.accumulate ? 2 * u * Math.abs(out0![idx]!) : 0) + 1e-30;
    if (!(err <= tol)) {
      throw new Error(`cell ${idx} (row ${Math.floor(idx / N)}, col ${idx % N}) of ${M}x${K}x${N} ${JSON.stringify(o)}: got ${got[idx]}, want ${ref[idx]} (err ${err} > tol ${tol})`);
    }
  }
}

const arbCase = fc.record({
  M: fc.integer({ min: 1, max: 70 }),
  K: fc.integer({ min: 1, max: 70 }),
  N: fc.integer({ min: 1, max: 70 }),
  transA: fc.boolean(),
  transB: fc.boolean(),
  accumulate: fc.boolean(),
  alpha: fc.constantFrom(1, -1, 0.5, 3.25),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

describe('cpu gemm (wasm SIMD)', () => {
  let threaded: WasmGemm;
  beforeAll(async () => {
    await cpuGemmReady();
    // an engine that uses its workers even for tiny problems, to test the split paths
    threaded = new WasmGemm({ threads: 2, minFlopsForThreads: 0 });
    await threaded.ready();
  });
  afterAll(async () => {
    await threaded.close();
  });

  it('matches float64 on random shapes (odd sizes, all op/accumulate/alpha combinations)', () => {
    fc.assert(
      fc.property(arbCase, ({ M, K, N, transA, transB, accumulate, alpha, seed }) => {
        const o: GemmOptions = { transA, transB, accumulate, alpha };
        const a = rand(M * K, seed), b = rand(K * N, seed + 1), out0 = rand(M * N, seed + 2);
        const out = out0.slice();
        gemm(a, b, out, M, K, N, o);
        check(out, a, b, M, K, N, o, out0);
      }),
      { seed: 20240611, numRuns: 200 },
    );
  });

  it('worker split paths (rows and panels) match float64', () => {
    expect(threaded.activeThreads).toBeGreaterThanOrEqual(1);
    fc.assert(
      fc.property(arbCase, ({ M, K, N, transA, transB, accumulate, alpha, seed }) => {
        const o: GemmOptions = { transA, transB, accumulate, alpha };
        const a = rand(M * K, seed), b = rand(K * N, seed + 1), out0 = rand(M * N, seed + 2);
        const out = out0.slice();
        threaded.gemm(a, b, out, M, K, N, o);
        check(out, a, b, M, K, N, o, out0);
      }),
      { seed: 7, numRuns: 100 },
    );
  });

  it('operands allocated inside the engine memory are used in place (even after the memory grows)', () => {
    const e = cpuGemmEngine();
    for (const [M, K, N, transA] of [[37, 29, 16, false], [21, 64, 24, true], [9, 7, 13, false]] as const) {
      const a = e.allocF32(M * K), b = e.allocF32(K * N), out = e.allocF32(M * N);
      a.set(rand(M * K, 3)); b.set(rand(K * N, 4)); out.set(rand(M * N, 5));
      e.allocF32(1 << 20); // grow: a, b, out now view an older SharedArrayBuffer
      expect(e.owns(a) && e.owns(out)).toBe(true);
      const out0 = out.slice();
      e.gemm(a, b, out, M, K, N, { transA, accumulate: true, alpha: 2 });
      check(out, a, b, M, K, N, { transA, accumulate: true, alpha: 2 }, out0);
    }
  });

  it('the LoRA step shapes are right (sampled cells for the big one)', () => {
    const shapes: Array<[number, number, number, GemmOptions]> = [
      [1024, 768, 16, {}],
      [1024, 16, 768, {}],
      [768, 1024, 16, { transA: true }],
      [1024, 768, 768, {}],
    ];
    for (const [M, K, N, o] of shapes) {
      const a = rand(M * K, M + K), b = rand(K * N, K + N), out = new Float32Array(M * N).fill(NaN);
      gemm(a, b, out, M, K, N, o); // NaN in out must not leak when not accumulating
      const cells = M * N * K > 5e7 ? Array.from({ length: 300 }, (_, i) => (i * 2654435761) % (M * N)) : undefined;
      if (cells) {
        // reference for sampled cells only (full f64 reference is 600M MACs)
        const u = 2 ** -24;
        for (const idx of cells) {
          const i = Math.floor(idx / N), j = idx % N;
          let s = 0, t = 0;
          for (let k = 0; k < K; k++) {
            const p = a[i * K + k]! * b[k * N + j]!;
            s += p;
            t += Math.abs(p);
          }
          expect(Math.abs(out[idx]! - s)).toBeLessThanOrEqual((K + 2) * u * t + 2 * u * Math.abs(s));
        }
        expect(out.every(Number.isFinite)).toBe(true);
      } else check(out, a, b, M, K, N, o);
    }
  });

  it('edge cases: empty dims, alpha 0, argument checks', () => {
    const out = new Float32Array([1, 2, 3, 4]);
    gemm(new Float32Array(0), new Float32Array(0), out, 2, 0, 2); // K = 0 → zeros
    expect(Array.from(out)).toEqual([0, 0, 0, 0]);
    out.set([1, 2, 3, 4]);
    gemm(new Float32Array(0), new Float32Array(0), out, 2, 0, 2, { accumulate: true });
    expect(Array.from(out)).toEqual([1, 2, 3, 4]);
    gemm(new Float32Array([NaN, 1]), new Float32Array([1, 1, 1, 1]), out, 1, 2, 2, { alpha: 0, accumulate: true });
    expect(Array.from(out)).toEqual([1, 2, 3, 4]);
    expect(() => gemm(new Float32Array(3), new Float32Array(4), out, 2, 2, 2)).toThrow(RangeError);
    expect(() => gemm(new Float32Array(4), new Float32Array(4), out, 2, 2.5, 2)).toThrow(RangeError);
  });

  it('agrees with the JS blocked candidate', () => {
    const [M, K, N] = [33, 47, 19];
    const a = rand(M * K, 11), b = rand(K * N, 12);
    const x = new Float32Array(M * N), y = new Float32Array(M * N);
    gemm(a, b, x, M, K, N, { transB: false, alpha: 0.25 });
    gemmJsBlocked(a, b, y, M, K, N, { alpha: 0.25 });
    for (let i = 0; i < M * N; i++) expect(Math.abs(x[i]! - y[i]!)).toBeLessThan(1e-5);
  });
});
