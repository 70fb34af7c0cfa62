import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BidiagonalBisection, singularValuesComputed } from './bidiagonal-bisect.ts';
import { bidiagonalValues } from './bidiagonal-svd.ts';

const fixtures: Record<string, { d: number[]; e: number[]; S: number[]; exact: number[] }> = JSON.parse(
  readFileSync(new URL('../../spec/fixtures/bidiagonal-values.json', import.meta.url), 'utf8'),
);
const relative = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (x, i) => (x === b[i] ? 0 : Math.abs(x - b[i]) / Math.abs(b[i]))));
const every = (n: number) => Array.from({ length: n }, (_, k) => k);

/** graded and ill-conditioned bidiagonals: entries ±u·10^(−x), x up to `orders`, in random order or falling, some 0 */
const bidiagonal = fc
  .record({
    n: fc.integer({ min: 1, max: 30 }),
    orders: fc.integer({ min: 0, max: 14 }),
    graded: fc.boolean(),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .map(({ n, orders, graded, seed }) => {
    let s = seed;
    const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const entry = (i: number) => (rand() < 0.08 ? 0 : (rand() < 0.5 ? -1 : 1) * (0.1 + rand()) * 10 ** -(graded ? (orders * i) / n : orders * rand()));
    return { d: Float64Array.from({ length: n }, (_, i) => entry(i)), e: Float64Array.from({ length: n - 1 }, (_, i) => entry(i + 0.5)) };
  });

describe('singular values by bisection (bidiagonal-bisect.ts)', () => {
  it.each(Object.entries(fixtures))('%s: every value within 2e-14 of the exact one, relatively, as PyTorch float64 is', (_, f) => {
    const bi = new BidiagonalBisection(Float64Array.from(f.d), Float64Array.from(f.e));
    const S = bi.values(every(f.d.length));
    expect(relative(S, f.exact)).toBeLessThan(2e-14);
    expect(relative(f.S, f.exact)).toBeLessThan(2e-14);
  });

  // The QR iteration is accurate to ~n·ε·‖B‖ absolutely, not relatively: on these bidiagonals (condition
  // numbers up to 1e60) its smallest values can be wholly wrong, where bisection stays within 1e-15 of
  // mpmath's (checked offline; the fixtures above check it in CI).
  it('the same bits from [0, ‖B‖] and from brackets around the QR values; the QR values to 1e-13 relative + n·ε·‖B‖ (property)', () => {
    fc.assert(
      fc.property(bidiagonal, ({ d, e }) => {
        const n = d.length;
        const bi = new BidiagonalBisection(d, e);
        const qr = bidiagonalValues(d, e);
        const alone = bi.values(every(n));
        expect([...bi.values(every(n), qr)]).toEqual([...alone]);
        alone.forEach((x, k) => expect(Math.abs(x - qr[k])).toBeLessThanOrEqual(1e-13 * x + n * 2 ** -52 * alone[0]));
        for (let k = 1; k < n; k++) expect(alone[k]).toBeLessThanOrEqual(alone[k - 1]);
      }),
      { seed: 17, numRuns: 150 },
    );
  });

  it('the count of values below x never falls as x grows (the bisection\'s premise; property)', () => {
    fc.assert(
      fc.property(bidiagonal, fc.array(fc.double({ min: 0, max: 2, noNaN: true }), { minLength: 2, maxLength: 12 }), ({ d, e }, xs) => {
        const bi = new BidiagonalBisection(d, e);
        const at = Float64Array.from(xs.filter((x) => x > 0)).sort();
        const counts = new Int32Array(at.length);
        bi.counts(at, counts);
        for (let v = 1; v < at.length; v++) expect(counts[v]).toBeGreaterThanOrEqual(counts[v - 1]);
      }),
      { seed: 19, numRuns: 150 },
    );
  });

  it('counts the values it computes', () => {
    const before = singularValuesComputed.bisection;
    new BidiagonalBisection(Float64Array.of(3, 2, 1), Float64Array.of(0.5, 0.25)).values([0, 2]);
    expect(singularValuesComputed.bisection - before).toBe(2);
  });

  it('zero, repeated and 1×1 cases', () => {
    const values = (d: number[], e: number[]) => [...new BidiagonalBisection(Float64Array.from(d), Float64Array.from(e)).values(every(d.length))];
    expect(values([0, 0, 0], [0, 0])).toEqual([0, 0, 0]);
    expect(values([-2], [])).toEqual([2]);
    expect(values([1, 1, 1], [0, 0])).toEqual([1, 1, 1]);
    expect(values([3, 0], [4])).toEqual([5, 0]);
    expect(() => values([NaN, 1], [1])).toThrow(/infinite or NaN/);
    // B·2^k has the values of B times 2^k exactly, at both ends of the range; subnormal entries work
    const [d, e] = [[0.3, -1.7, 2.9, 0.01], [1.1, -0.4, 5.3]];
    for (const k of [-1000, 1000]) expect(values(d.map((x) => x * 2 ** k), e.map((x) => x * 2 ** k))).toEqual(values(d, e).map((x) => x * 2 ** k));
    expect(values([2 ** -1074, 3 * 2 ** -1070], [0])).toEqual([3 * 2 ** -1070, 2 ** -1074]);
  });
});
