import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bidiagonalValues, bidiagonalValuesLoop } from './bidiagonal-svd.ts';
import { bidiagonalValuesWasm } from './bidiagonal-values-wasm.ts';

/** the bits of every value (−0 and 0 apart), or the error's message */
const outcome = (f: () => Float64Array | null) => {
  try {
    const s = f();
    return s ? [...s].map((x) => (Object.is(x, -0) ? '-0' : x)) : null;
  } catch (err) {
    return (err as Error).message;
  }
};

/**
 * entries of every kind the iteration meets: zeros (deflation, splits), ±2⁻⁹⁶⁶ (the negligibility
 * threshold itself beside a zero: ≤, not <), ordinary, tiny and huge (incl. subnormal)
 */
const entry = fc.oneof(
  fc.constantFrom(0, 2 ** -966, -(2 ** -966)),
  fc.double({ min: -1, max: 1, noNaN: true }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.tuple(fc.double({ min: -1, max: 1, noNaN: true }), fc.integer({ min: -1000, max: 1000 })).map(([m, x]) => m * 2 ** x),
);
const bidiagonal = fc
  .oneof(fc.constantFrom(1, 2), fc.integer({ min: 3, max: 40 }))
  .chain((n) => fc.tuple(fc.array(entry, { minLength: n, maxLength: n }), fc.array(entry, { minLength: n - 1, maxLength: n - 1 })))
  .map(([d, e]) => ({ d: Float64Array.from(d), e: Float64Array.from(e) }));

describe('bidiagonalValues in WebAssembly', () => {
  it('is there in Node (else the JavaScript loop would run unnoticed)', () => {
    expect(bidiagonalValuesWasm(Float64Array.of(2), new Float64Array(0))).toEqual(Float64Array.of(2));
  });

  it('gives the JavaScript loop\'s singular values bit for bit (property)', () => {
    fc.assert(
      fc.property(bidiagonal, ({ d, e }) => {
        const loop = outcome(() => bidiagonalValuesLoop(d, e));
        expect(outcome(() => bidiagonalValuesWasm(d, e))).toEqual(loop);
        expect(outcome(() => bidiagonalValues(d, e))).toEqual(loop);
      }),
      { seed: 13, numRuns: 300 },
    );
  });

  it('fails as the JavaScript loop does where the iteration cannot converge (a NaN), over many calls into the module', () => {
    const d = Float64Array.from({ length: 30 }, (_, i) => i + 1);
    const e = new Float64Array(29).fill(0.5);
    d[20] = NaN;
    const loop = outcome(() => bidiagonalValuesLoop(d, e));
    expect(loop).toBe('svd: the bidiagonal QR iteration did not converge');
    expect(outcome(() => bidiagonalValuesWasm(d, e))).toBe(loop);
  });

  it('gives the same bits on a large random bidiagonal with zeros on its diagonal (every kase of the iteration)', () => {
    let seed = 5;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const n = 300;
    const d = Float64Array.from({ length: n }, rnd);
    const e = Float64Array.from({ length: n - 1 }, rnd);
    for (const i of [0, 7, 150, n - 1]) d[i] = 0;
    expect(outcome(() => bidiagonalValuesWasm(d, e))).toEqual(outcome(() => bidiagonalValuesLoop(d, e)));
  });
});
