import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fans, fourierFrequencies, getInitializer, initialize, initializers, kaimingBound, resolveArgs } from './initializers.ts';
import { rng } from './rng.ts';
import { einsum, matmul, transpose } from '../tensor/linalg.ts';
import { type Tensor, tensor } from '../tensor/tensor.ts';
import { FC, arbShape, expectClose, expectTensor } from '../tensor/test-util.ts';

const eye = (n: number): Tensor => initialize('eye', [n, n], {}, rng(0));
const stats = (xs: Float64Array): { mean: number; v: number } => {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return { mean, v: xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length };
};

describe('table and argument handling', () => {
  it('lists the documented initializers, each with a doc', () => {
    expect(Object.keys(initializers).sort()).toEqual(
      ['constant', 'eye', 'fourier_cos', 'fourier_sin', 'kaiming_uniform', 'normal', 'ones', 'orthogonal',
        'sparse_normal', 'uniform', 'xavier_uniform', 'zeros'].sort(),
    );
    for (const [name, spec] of Object.entries(initializers)) expect(spec.doc.length, name).toBeGreaterThan(5);
  });
  it('fills defaults and rejects unknown or missing arguments', () => {
    expect(resolveArgs('normal', { std: 2 })).toEqual({ mean: 0, std: 2 });
    expect(resolveArgs('kaiming_uniform')).toEqual({ a: Math.sqrt(5) });
    expect(() => resolveArgs('normal', { sd: 2 })).toThrow(/unknown argument 'sd'/);
    expect(() => resolveArgs('constant', {})).toThrow(/missing argument 'value'/);
    expect(() => getInitializer('toString')).toThrow(/unknown initializer/);
  });
  it('fans follow the [.., In, Out] layout', () => {
    expect(fans([16, 4])).toEqual({ fanIn: 16, fanOut: 4 });
    expect(fans([3, 16, 4])).toEqual({ fanIn: 16, fanOut: 4 });
    expect(() => fans([5])).toThrow(/rank >= 2/);
  });
});

describe('deterministic initializers', () => {
  it('zeros, ones, constant, eye', () => {
    expectTensor(initialize('zeros', [2, 2], {}, rng(0)), [[0, 0], [0, 0]]);
    expectTensor(initialize('ones', [3], {}, rng(0)), [1, 1, 1]);
    expectTensor(initialize('constant', [2], { value: -0.5 }, rng(0)), [-0.5, -0.5]);
    expectTensor(initialize('eye', [2, 3], {}, rng(0)), [[1, 0, 0], [0, 1, 0]]);
    expectTensor(initialize('eye', [2, 3, 2], {}, rng(0)), [[[1, 0], [0, 1], [0, 0]], [[1, 0], [0, 1], [0, 0]]]);
  });
});

describe('random initializers', () => {
  it('are reproducible from the rng and use it', () => {
    for (const name of ['normal', 'uniform', 'kaiming_uniform', 'xavier_uniform', 'orthogonal']) {
      const a = initialize(name, [4, 3], {}, rng(5).fork('w'));
      const b = initialize(name, [4, 3], {}, rng(5).fork('w'));
      const c = initialize(name, [4, 3], {}, rng(5).fork('v'));
      expect(Array.from(a.data), name).toEqual(Array.from(b.data));
      expect(Array.from(a.data), name).not.toEqual(Array.from(c.data));
    }
  });
  it('normal and uniform match their moments', () => {
    const n = stats(initialize('normal', [200, 500], { mean: 1, std: 3 }, rng(1)).data);
    expect(Math.abs(n.mean - 1)).toBeLessThan(0.03);
    expect(Math.abs(n.v - 9)).toBeLessThan(0.15);
    const u = initialize('uniform', [100_000], { low: 2, high: 4 }, rng(2)).data;
    expect(Math.min(...u)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...u)).toBeLessThan(4);
    const su = stats(u);
    expect(Math.abs(su.mean - 3)).toBeLessThan(0.01);
    expect(Math.abs(su.v - 1 / 3)).toBeLessThan(0.005);
  });
  it('kaiming_uniform: PyTorch bound, respected, with matching variance', () => {
    // Default a = sqrt(5) (nn.Linear): bound = 1/sqrt(fan_in).
    expect(kaimingBound([64, 8], Math.sqrt(5))).toBeCloseTo(1 / 8, 14);
    // a = 0 (plain ReLU): bound = sqrt(6 / fan_in).
    expect(kaimingBound([24, 8], 0)).toBeCloseTo(0.5, 14);
    // fan_in is shape[1] for [E, In, Out].
    expect(kaimingBound([1000, 64, 8], Math.sqrt(5))).toBeCloseTo(1 / 8, 14);
    for (const [shape, a] of [[[64, 500], Math.sqrt(5)], [[4, 16, 1000], 0], [[25, 2000], 1]] as [number[], number][]) {
      const w = initialize('kaiming_uniform', shape, { a }, rng(9));
      const b = kaimingBound(shape, a);
      expect(Math.max(...w.data.map(Math.abs))).toBeLessThanOrEqual(b);
      expect(Math.max(...w.data.map(Math.abs))).toBeGreaterThan(0.99 * b); // actually spans the range
      const s = stats(w.data);
      expect(Math.abs(s.mean)).toBeLessThan(0.02 * b);
      // Var(U(-b, b)) = b^2 / 3 = gain^2 / fan_in
      expect(Math.abs(s.v / (b * b / 3) - 1)).toBeLessThan(0.03);
    }
  });
  it('xavier_uniform bound and variance', () => {
    const w = initialize('xavier_uniform', [300, 100], { gain: 2 }, rng(4));
    const b = 2 * Math.sqrt(6 / 400);
    expect(Math.max(...w.data.map(Math.abs))).toBeLessThanOrEqual(b);
    expect(Math.abs(stats(w.data).v / (b * b / 3) - 1)).toBeLessThan(0.03);
  });
});

describe('orthogonal', () => {
  it('Q^T Q = I for tall and square, Q Q^T = I for wide (property)', () => {
    fc.assert(
      fc.property(arbShape(2, 8), fc.integer(), ([n, m], seed) => {
        const q = initialize('orthogonal', [n, m], {}, rng(seed));
        if (n >= m) expectClose(matmul(transpose(q), q), eye(m), { rtol: 0, atol: 1e-12 });
        else expectClose(matmul(q, transpose(q)), eye(n), { rtol: 0, atol: 1e-12 });
      }),
      FC,
    );
  });
  it('scales by gain and batches over leading axes', () => {
    const q = initialize('orthogonal', [3, 5, 4], { gain: 2 }, rng(1));
    expectClose(einsum('eio,eip->eop', q, q), tensor([3, 4, 4], Array(3).fill([...eye(4).data.map((x) => 4 * x)]).flat()), {
      rtol: 0, atol: 1e-12,
    });
    // experts get different matrices
    expect(Array.from(q.data.subarray(0, 20))).not.toEqual(Array.from(q.data.subarray(20, 40)));
  });
  it('is the sign-corrected Q: G = Q R with diag(R) > 0 (wide: G = L Q, diag(L) > 0)', () => {
    // Reconstruct the Gaussian draw the initializer made and recover the triangular factor.
    for (const [n, m] of [[6, 4], [4, 4], [3, 5]]) {
      const r = rng(77);
      const g = tensor([n, m], Array.from({ length: n * m }, () => r.normal()));
      const q = initialize('orthogonal', [n, m], {}, rng(77));
      const tall = n >= m;
      const k = Math.min(n, m);
      const R = tall ? matmul(transpose(q), g) : transpose(matmul(g, transpose(q))); // upper triangular [k, k]
      for (let i = 0; i < k; i++) {
        expect(R.data[i * k + i]).toBeGreaterThan(0);
        for (let j = 0; j < i; j++) expect(Math.abs(R.data[i * k + j])).toBeLessThan(1e-12);
      }
      expectClose(tall ? matmul(q, R) : matmul(transpose(R), q), g, { rtol: 0, atol: 1e-12 });
    }
  });
  it('rejects rank < 2', () => {
    expect(() => initialize('orthogonal', [4], {}, rng(0))).toThrow(/rank/);
  });
});

describe('fourier bases', () => {
  it('cos and sin share frequencies via the seed argument, not the rng', () => {
    const c = initialize('fourier_cos', [5, 16], { seed: 3, n: 5 }, rng(1));
    const c2 = initialize('fourier_cos', [5, 16], { seed: 3, n: 5 }, rng(999));
    const s = initialize('fourier_sin', [5, 16], { seed: 3, n: 5 }, rng(2));
    expect(Array.from(c.data)).toEqual(Array.from(c2.data));
    // cos^2 + sin^2 = 1 entrywise only if the frequencies agree
    for (let i = 0; i < c.data.length; i++) expect(c.data[i] ** 2 + s.data[i] ** 2).toBeCloseTo(1, 12);
    const other = initialize('fourier_sin', [5, 16], { seed: 4, n: 5 }, rng(2));
    expect(Array.from(other.data)).not.toEqual(Array.from(s.data));
  });
  it('entries are cos/sin(2 pi u_k i / M) with integer u_k in [0, M)', () => {
    const u = fourierFrequencies(8, 6, 10);
    expect(u).toEqual(fourierFrequencies(8, 6, 10));
    for (const k of u) expect(Number.isInteger(k) && k >= 0 && k < 10).toBe(true);
    const c = initialize('fourier_cos', [6, 10], { seed: 8, n: 6 }, rng(0));
    const s = initialize('fourier_sin', [6, 10], { seed: 8, n: 6 }, rng(0));
    for (let k = 0; k < 6; k++) {
      expect(c.data[k * 10]).toBe(1); // column i = 0
      expect(s.data[k * 10]).toBe(0);
      expect(c.data[k * 10 + 3]).toBeCloseTo(Math.cos((2 * Math.PI * u[k] * 3) / 10), 14);
      expect(s.data[k * 10 + 7]).toBeCloseTo(Math.sin((2 * Math.PI * u[k] * 7) / 10), 14);
    }
    // golden values: bases must not silently change between versions
    expect(fourierFrequencies(0, 6, 64)).toEqual([52, 8, 18, 19, 32, 44]);
    // frequencies actually vary
    expect(new Set(fourierFrequencies(1, 50, 1000)).size).toBeGreaterThan(40);
  });
  it('checks n against the shape and requires 2-D', () => {
    expect(() => initialize('fourier_cos', [5, 16], { seed: 0, n: 4 }, rng(0))).toThrow(/n=4/);
    expect(() => initialize('fourier_cos', [5, 16], { seed: 0 }, rng(0))).toThrow(/missing argument 'n'/);
    expect(() => initialize('fourier_sin', [5], { n: 5 }, rng(0))).toThrow(/2-D/);
  });
});

describe('sparse_normal', () => {
  it('keeps about density of the entries, with the given spread', () => {
    const t = initialize('sparse_normal', [200, 100], { density: 0.25, std: 2 }, rng(5));
    const kept = t.data.filter((v) => v !== 0);
    expect(kept.length / t.data.length).toBeGreaterThan(0.23);
    expect(kept.length / t.data.length).toBeLessThan(0.27);
    expect(Math.sqrt(stats(kept).v)).toBeGreaterThan(1.9);
    expect(Math.sqrt(stats(kept).v)).toBeLessThan(2.1);
  });
  it('refuses a density outside (0, 1]', () => {
    expect(() => initialize('sparse_normal', [2, 2], { density: 0 }, rng(0))).toThrow(/density/);
  });
});
