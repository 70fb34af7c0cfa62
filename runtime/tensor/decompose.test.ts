import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { qr, svd } from './decompose.ts';
import { matmul, transpose } from './linalg.ts';
import { tensor, type Tensor } from './tensor.ts';

const matrix = fc
  .tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1e6 }))
  .map(([m, n, seed]) => {
    let s = seed;
    return tensor([m, n], Float64Array.from({ length: m * n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1));
  });
const diagTimes = (U: Tensor, S: Tensor) => tensor(U.shape, U.data.map((v, i) => v * S.data[i % U.shape[1]]));
const close = (a: Tensor, b: Tensor, tol = 1e-10) => a.data.forEach((v, i) => expect(Math.abs(v - b.data[i])).toBeLessThan(tol));
const identity = (k: number) => tensor([k, k], Float64Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 : 0)));

describe('svd', () => {
  it('W = U diag(S) Vᵀ, orthonormal U and V, S sorted descending and non-negative', () => {
    fc.assert(
      fc.property(matrix, (W) => {
        const { U, S, V } = svd(W);
        const K = Math.min(...W.shape);
        expect(U.shape).toEqual([W.shape[0], K]);
        expect(V.shape).toEqual([W.shape[1], K]);
        close(matmul(diagTimes(U, S), transpose(V)), W);
        close(matmul(transpose(U), U), identity(K));
        close(matmul(transpose(V), V), identity(K));
        for (let k = 1; k < K; k++) expect(S.data[k]).toBeLessThanOrEqual(S.data[k - 1]);
        expect(S.data.every((x) => x >= 0)).toBe(true);
      }),
      { seed: 7, numRuns: 60 },
    );
  });
  it('a known case: diag(3, 1) rotated', () => {
    const c = Math.cos(0.3);
    const s = Math.sin(0.3);
    const W = matmul(tensor([2, 2], Float64Array.of(c, -s, s, c)), tensor([2, 2], Float64Array.of(3, 0, 0, 1)));
    expect([...svd(W).S.data].map((x) => +x.toFixed(12))).toEqual([3, 1]);
  });
});

describe('qr', () => {
  it('W = Q R, orthonormal Q, upper-triangular R with a non-negative diagonal', () => {
    fc.assert(
      fc.property(matrix, (W) => {
        const { Q, R } = qr(W);
        const [m, n] = W.shape;
        const K = Math.min(m, n);
        if (m >= n) close(matmul(Q, R), W);
        close(matmul(transpose(Q), Q), identity(K), 1e-8);
        for (let i = 0; i < K; i++) {
          expect(R.data[i * n + i]).toBeGreaterThanOrEqual(0);
          for (let j = 0; j < Math.min(i, n); j++) expect(R.data[i * n + j]).toBe(0);
        }
      }),
      { seed: 7, numRuns: 60 },
    );
  });
});
