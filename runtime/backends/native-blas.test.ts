// The OpenBLAS binding against a float64 reference: every transpose combination, alpha, accumulate,
// operands at offsets and in shared memory, bad sizes rejected. Skipped, saying why, where the
// binding was not built; in CI (which installs libopenblas-dev) it must be built.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
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
