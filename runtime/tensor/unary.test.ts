import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type UnaryName, applyUnary, applyUnaryGrad, erf, isUnaryName, unary, unaryNames } from './unary.ts';
import { fromNested } from './tensor.ts';
import { FC, expectTensor } from './test-util.ts';

// Points where each function is smooth; kinks (relu, abs at 0) and poles/domains excluded.
const positive = fc.double({ min: 0.1, max: 10, noNaN: true });
const awayFromZero = fc
  .tuple(fc.double({ min: 0.01, max: 5, noNaN: true }), fc.boolean())
  .map(([x, neg]) => (neg ? -x : x));
const moderate = fc.double({ min: -5, max: 5, noNaN: true });
// Away from the steps' jumps (0 for heaviside, the integers for floor).
const offInteger = fc.integer({ min: -5, max: 4 }).chain((k) => fc.double({ min: k + 0.01, max: k + 0.99, noNaN: true }));
const domain: Record<UnaryName, fc.Arbitrary<number>> = {
  neg: moderate, exp: moderate, log: positive, sqrt: positive, rsqrt: positive, relu: awayFromZero,
  gelu: moderate, gelu_erf: moderate, tanh: moderate, sigmoid: moderate, silu: moderate, abs: awayFromZero,
  square: moderate, sin: moderate, cos: moderate, softplus: moderate, recip: awayFromZero.map((x) => 2 * x),
  heaviside: awayFromZero, floor: offInteger,
};

describe('unary table', () => {
  it('has exactly the documented entries', () => {
    expect([...unaryNames].sort()).toEqual(
      ['abs', 'cos', 'exp', 'gelu', 'gelu_erf', 'log', 'neg', 'recip', 'relu', 'rsqrt', 'sigmoid', 'silu',
        'sin', 'softplus', 'sqrt', 'square', 'tanh', 'heaviside', 'floor'].sort(),
    );
    expect(isUnaryName('gelu')).toBe(true);
    expect(isUnaryName('toString')).toBe(false);
  });

  for (const name of unaryNames) {
    it(`${name}: df matches central finite differences`, () => {
      const { f, df } = unary[name];
      fc.assert(
        fc.property(domain[name], (x) => {
          const h = 1e-5 * Math.max(1, Math.abs(x));
          const fd = (f(x + h) - f(x - h)) / (2 * h);
          expect(Math.abs(df(x) - fd)).toBeLessThan(1e-6 * (1 + Math.abs(fd)));
        }),
        FC,
      );
    });
  }

  it('hand values', () => {
    const x = fromNested([-1, 0, 2]);
    expectTensor(applyUnary('relu', x), [0, 0, 2]);
    expectTensor(applyUnaryGrad('relu', x), [0, 0, 1]);
    expectTensor(applyUnary('abs', x), [1, 0, 2]);
    expectTensor(applyUnaryGrad('abs', x), [-1, 0, 1]);
    expectTensor(applyUnary('square', x), [1, 0, 4]);
    expectTensor(applyUnary('recip', fromNested([4, -0.5])), [0.25, -2]);
    expectTensor(applyUnary('rsqrt', fromNested([4, 0.25])), [0.5, 2]);
    expectTensor(applyUnary('sigmoid', fromNested([0, -1])), [0.5, 0.2689414213699951]);
    expectTensor(applyUnary('softplus', fromNested([0, 1])), [Math.LN2, 1.3132616875182228]);
    expectTensor(applyUnary('silu', fromNested([0, 1])), [0, 0.7310585786300049]);
    expectTensor(applyUnary('heaviside', fromNested([-1, 0, 2, NaN])), [0, 0, 1, 0]);
    expectTensor(applyUnary('floor', fromNested([-1.5, 0, 2.7])), [-2, 0, 2]);
    expect(unary.heaviside.constant && unary.floor.constant).toBe(true);
  });

  it('gelu matches PyTorch (tanh approximation) and gelu_erf the exact form', () => {
    // Reference values computed in float64 from the defining formulas.
    expectTensor(applyUnary('gelu', fromNested([1, -0.5, 2])), [0.8411919906082768, -0.15428599017485606, 1.954597694087775]);
    expectTensor(applyUnary('gelu_erf', fromNested([1, -0.5])), [0.8413447460685429, -0.15426876936299344]);
  });

  it('is stable at extreme arguments', () => {
    expect(unary.sigmoid.f(-800)).toBe(0);
    expect(unary.sigmoid.f(800)).toBe(1);
    expect(unary.sigmoid.df(-800)).toBe(0);
    expect(unary.softplus.f(800)).toBe(800);
    expect(unary.softplus.f(-800)).toBe(0);
    expect(unary.silu.f(-800)).toBe(-0);
    expect(unary.gelu_erf.f(-40)).toBe(-0);
  });
});

describe('erf', () => {
  it('matches reference values to 1e-14', () => {
    // From C libm erf (Python math.erf).
    const ref: [number, number][] = [
      [0, 0], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149],
      [2, 0.9953222650189527], [2.9, 0.9999589021219005], [3, 0.9999779095030014],
      [3.5, 0.9999992569016276], [4.5, 0.9999999998033839], [-1.3, -0.9340079449406524], [10, 1],
    ];
    for (const [x, e] of ref) expect(Math.abs(erf(x) - e), `erf(${x})`).toBeLessThan(1e-14);
    expect(erf(NaN)).toBeNaN();
  });
  it('is odd, monotone, and has derivative 2/sqrt(pi) e^{-x^2} (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -6, max: 6, noNaN: true }), (x) => {
        expect(erf(-x)).toBe(-erf(x));
        expect(erf(x + 1e-3)).toBeGreaterThanOrEqual(erf(x));
        const h = 1e-5;
        const fd = (erf(x + h) - erf(x - h)) / (2 * h);
        expect(Math.abs(fd - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x))).toBeLessThan(1e-9);
      }),
      FC,
    );
  });
  it('is continuous across the series / continued-fraction switch at 3', () => {
    const below = erf(3 - 1e-12);
    const above = erf(3);
    expect(Math.abs(above - below)).toBeLessThan(1e-15);
  });
});
