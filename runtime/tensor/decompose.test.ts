import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { qr, svd, svdColumns } from './decompose.ts';
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

const checkSvd = (W: Tensor) => {
  const { U, S, V } = svd(W);
  const K = Math.min(...W.shape);
  close(matmul(diagTimes(U, S), transpose(V)), W);
  close(matmul(transpose(U), U), identity(K));
  close(matmul(transpose(V), V), identity(K));
  for (let k = 1; k < K; k++) expect(S.data[k]).toBeLessThanOrEqual(S.data[k - 1]);
};

describe('svd: degenerate spectra (zero, repeated and exactly equal singular values)', () => {
  const rows = (r: number[][]) => tensor([r.length, r[0].length], Float64Array.from(r.flat()));
  it.each([
    ['the zero matrix', rows([[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])],
    ['the identity', identity(5)],
    ['a rank-1 outer product', rows([[1, 2, 3, 4], [2, 4, 6, 8], [-1, -2, -3, -4], [0.5, 1, 1.5, 2], [3, 6, 9, 12], [0, 0, 0, 0]])],
    ['a permuted diagonal with repeats and a zero', rows([[0, 2, 0, 0, 0], [0, 0, 0, 1, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 2, 0, 0]])],
    ['a wide rank-2 matrix', rows([[1, 0, 1, 0, 1, 0, 1], [0, 1, 0, 1, 0, 1, 0], [1, 1, 1, 1, 1, 1, 1]])],
  ])('%s', (_, W) => checkSvd(W));
});

describe('svd against PyTorch float64 (spec/fixtures/svd-parts.json: a near-double value, a spread of 1e13)', () => {
  const fx = JSON.parse(readFileSync(new URL('../../spec/fixtures/svd-parts.json', import.meta.url), 'utf8'));
  const rows = (r: number[][]) => tensor([r.length, r[0].length], Float64Array.from(r.flat()));
  // σ_k u_k v_kᵀ summed over the columns lo..hi−1 (the values by bisection, as a slice of S reads
  // them): what PiSSA, MiLoRA and LoRA-XS read, free of sign choices
  const part = (W: Tensor, lo: number, hi: number) => {
    const c = svdColumns(W);
    return matmul(diagTimes(c.U(lo, hi), c.values(lo, hi)), transpose(c.V(lo, hi)));
  };
  for (const shape of ['tall', 'wide'])
    it(`${shape}: singular values, and the 3 principal and 3 minor triples`, () => {
      const W = rows(fx[shape].W);
      const K = Math.min(...W.shape);
      close(svd(W).S, tensor([K], Float64Array.from(fx[shape].S)));
      close(svdColumns(W).values(0, K), tensor([K], Float64Array.from(fx[shape].S)));
      close(part(W, 0, 3), rows(fx[shape].principal3));
      close(part(W, K - 3, K), rows(fx[shape].minor3));
    });
});

describe('svdColumns', () => {
  it('a column is the same whichever columns were asked for before, and the same as in the full SVD (property)', () => {
    fc.assert(
      fc.property(matrix, fc.nat(), fc.nat(), (W, a, b) => {
        const K = Math.min(...W.shape);
        const lo = a % K;
        const hi = lo + 1 + (b % (K - lo));
        const full = svd(W);
        const c = svdColumns(W);
        const minor = c.V(K - 1, K); // something else first
        const U = c.U(lo, hi);
        const V = c.V(lo, hi);
        const cols = (X: Tensor) => Array.from({ length: X.shape[0] }, (_, i) => [...X.data.slice(i * K + lo, i * K + hi)]).flat();
        expect([...U.data]).toEqual(cols(full.U));
        expect([...V.data]).toEqual(cols(full.V));
        expect([...minor.data]).toEqual(Array.from({ length: W.shape[1] }, (_, i) => full.V.data[i * K + K - 1]));
      }),
      { seed: 11, numRuns: 40 },
    );
  });
});

/**
 * Sizes past the WebAssembly kernels' unrolled loops (rows in pairs and an odd one, 4, 2 and 1 doubles
 * a turn, reflectors on 8, 2 and 1 columns at a time), wide and tall, full rank, rank-deficient (a
 * product through k < min(m, n)) and with every singular value repeated (diag(A, A)).
 */
const structured = fc
  .tuple(fc.integer({ min: 1, max: 23 }), fc.integer({ min: 1, max: 23 }), fc.constantFrom('dense', 'low rank', 'repeated'), fc.integer({ min: 0, max: 1e6 }))
  .map(([a, b, kind, seed]) => {
    let s = seed;
    const rand = (m: number, n: number) => tensor([m, n], Float64Array.from({ length: m * n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1));
    if (kind === 'dense') return rand(a, b);
    if (kind === 'low rank') return matmul(rand(a, 1 + (seed % Math.min(a, b))), rand(1 + (seed % Math.min(a, b)), b));
    const A = rand(a, b);
    const W = tensor([2 * a, 2 * b]);
    for (let i = 0; i < a; i++)
      for (let j = 0; j < b; j++) W.data[i * 2 * b + j] = W.data[(a + i) * 2 * b + b + j] = A.data[i * b + j];
    return W;
  });

describe('svd at the kernels\' sizes: dense, rank-deficient, repeated singular values (property)', () => {
  it('W = U diag(S) Vᵀ, orthonormal columns, the principal and minor columns as in the full SVD, the sign rule', () => {
    fc.assert(
      fc.property(structured, fc.integer({ min: 1, max: 9 }), (W, r0) => {
        const [m, n] = W.shape;
        const K = Math.min(m, n);
        const r = Math.min(r0, K);
        const norm = Math.sqrt(W.data.reduce((acc, x) => acc + x * x, 0)) || 1;
        const { U, S, V } = svd(W);
        close(matmul(diagTimes(U, S), transpose(V)), W, 1e-12 * norm * K);
        close(matmul(transpose(U), U), identity(K), 1e-11);
        close(matmul(transpose(V), V), identity(K), 1e-11);
        for (let k = 1; k < K; k++) expect(S.data[k]).toBeLessThanOrEqual(S.data[k - 1]);
        // the lazily computed r principal and r minor columns are the full SVD's, bit for bit
        const c = svdColumns(W);
        const cols = (X: Tensor, lo: number, hi: number) => Array.from({ length: X.shape[0] }, (_, i) => [...X.data.slice(i * K + lo, i * K + hi)]).flat();
        expect([...c.U(K - r, K).data]).toEqual(cols(U, K - r, K));
        expect([...c.V(0, r).data]).toEqual(cols(V, 0, r));
        // signs: the largest-magnitude entry of each column of U (of V where m < n) is positive
        const X = m >= n ? U : V;
        for (let k = 0; k < K; k++) {
          let big = 0;
          for (let i = 0; i < X.shape[0]; i++) if (Math.abs(X.data[i * K + k]) > Math.abs(big)) big = X.data[i * K + k];
          expect(big).toBeGreaterThan(0);
        }
      }),
      { seed: 13, numRuns: 60 },
    );
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
