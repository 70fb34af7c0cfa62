import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { countCorrect, largest, logSoftmax, logsumexp, max, mean, min, norm, normAxes, prod, softmax, sum, variance } from './reduce.ts';
import { fromNested, numel, scalar, tensor } from './tensor.ts';
import { transpose } from './linalg.ts';
import { FC, arange, arbShape, arbTensor, expectClose, expectTensor } from './test-util.ts';

const M = fromNested([[1, 2, 3], [4, 5, 6]]);

describe('sum and friends', () => {
  it('negative axes and keepdims', () => {
    expectTensor(sum(M, -1), [6, 15]);
    expectTensor(sum(M, -2), [5, 7, 9]);
    expectTensor(sum(M, 1, true), [[6], [15]]);
    expectTensor(sum(M, [0, -1]), 21);
    expectTensor(sum(M), 21);
    expectTensor(sum(M, []), [[1, 2, 3], [4, 5, 6]]);
    // arange([2,3,4])[i,j,k] = 12i + 4j + k; summing i and k: 60 + 32 j
    expectTensor(sum(arange([2, 3, 4]), [-1, 0]), [60, 92, 124]);
    expectTensor(sum(arange([2, 3, 4]), [2, 0], true), [[[60], [92], [124]]]);
  });
  it('mean, max, min, prod', () => {
    expectTensor(mean(M, -1), [2, 5]);
    expectTensor(mean(M), 3.5);
    const P = fromNested([[1, 5, 3], [4, 2, 6]]);
    expectTensor(max(P, -1), [5, 6]);
    expectTensor(min(P, 0), [1, 2, 3]);
    expectTensor(max(P, -2, true), [[4, 5, 6]]);
    expectTensor(prod(M), 720);
    expectTensor(prod(M, 0), [4, 10, 18]);
  });
  it('edge cases', () => {
    expectTensor(sum(scalar(3)), 3);
    expectTensor(sum(tensor([2, 0]), 1), [0, 0]);
    expect(() => max(tensor([2, 0]), 1)).toThrow(/empty/);
    expect(Number.isNaN(mean(tensor([0])).data[0])).toBe(true);
    expect(max(fromNested([1, NaN, 2])).data[0]).toBeNaN();
    expect(() => sum(M, 2)).toThrow(/out of range/);
    expect(() => sum(M, [1, -1])).toThrow(/duplicate/);
    expect(normAxes([-1, 0], 3)).toEqual([0, 2]);
  });
  it('sum over all axes equals the sum of the data (property)', () => {
    const arb = fc.integer({ min: 0, max: 4 }).chain((r) => arbShape(r, 3)).chain(arbTensor);
    fc.assert(
      fc.property(arb, (t) => {
        let s = 0;
        for (const x of t.data) s += x;
        const r = sum(t);
        expect(r.shape).toEqual([]);
        expect(r.data[0]).toBeCloseTo(s, 10);
      }),
      FC,
    );
  });
  it('reducing axes one at a time equals reducing them together (property)', () => {
    fc.assert(
      fc.property(arbShape(3, 4).chain(arbTensor), (t) => {
        expectClose(sum(t, [0, 2]), sum(sum(t, 2), 0));
        expectClose(max(t, [-1, -3]), max(max(t, 0), -1));
        // reducing an axis of the transpose is reducing the matching axis of the original
        expectClose(sum(transpose(t), 1), sum(t, 2));
      }),
      FC,
    );
  });
});

describe('softmax / logsumexp', () => {
  it('hand values', () => {
    expectTensor(softmax(fromNested([1, 2, 3])), [0.09003057317038046, 0.24472847105479764, 0.6652409557748218]);
    expectTensor(logsumexp(fromNested([1, 2, 3])), 3.4076059644443806);
    // Along axis 0 of a matrix: each column [a, a+1] -> [s(-1), s(1)]
    const s0 = 0.2689414213699951;
    expectTensor(softmax(fromNested([[0, 5], [1, 6]]), 0), [[s0, s0], [1 - s0, 1 - s0]]);
    expectTensor(logSoftmax(fromNested([0, 0])), [-Math.LN2, -Math.LN2]);
  });
  it('is stable for large and infinite inputs', () => {
    expectTensor(softmax(fromNested([1000, 1001])), [0.2689414213699951, 0.7310585786300049]);
    expectTensor(softmax(fromNested([-1000, -1001])), [0.7310585786300049, 0.2689414213699951]);
    expectTensor(logsumexp(fromNested([1000, 1000])), 1000 + Math.LN2);
    expectTensor(softmax(fromNested([0, -Infinity])), [1, 0]);
    expectTensor(logsumexp(fromNested([-Infinity, -Infinity])), -Infinity);
    expectTensor(logsumexp(fromNested([[1, 2], [3, 4]]), -1, true), [[2 + Math.log1p(Math.exp(-1))], [4 + Math.log1p(Math.exp(-1))]]);
  });
  it('sums to 1 along the axis, and is positive (property)', () => {
    const arb = fc.tuple(arbShape(3, 4), fc.integer({ min: -3, max: 2 })).chain(([s, ax]) =>
      fc.tuple(arbTensor(s).map((t) => ({ ...t, data: t.data.map((x) => x * 30) })), fc.constant(ax)));
    fc.assert(
      fc.property(arb, ([t, ax]) => {
        const p = softmax(t, ax);
        const s = sum(p, ax);
        expectClose(s, tensor(s.shape, new Array(numel(s.shape)).fill(1)), { rtol: 0, atol: 1e-12 });
        for (const x of p.data) expect(x).toBeGreaterThanOrEqual(0);
        // softmax = exp(x - logsumexp(x))
        expectClose(p, { shape: t.shape, data: logSoftmax(t, ax).data.map(Math.exp) }, { rtol: 1e-9, atol: 1e-12 });
      }),
      FC,
    );
  });
});

describe('norm / variance', () => {
  it('hand values', () => {
    expectTensor(norm(fromNested([3, 4])), 5);
    expectTensor(norm(fromNested([[3, 4], [0, 1]]), -1), [5, 1]);
    expectTensor(variance(fromNested([1, 2, 3, 4])), 1.25);
    expectTensor(variance(fromNested([1, 2, 3, 4]), undefined, false, 1), 5 / 3);
    expectTensor(variance(fromNested([[1, 3], [2, 2]]), -1, true), [[1], [0]]);
  });
  it('two-pass variance survives a large offset', () => {
    expectTensor(variance(fromNested([1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4])), 1.25);
  });
  it('variance = mean of squares - square of mean (property)', () => {
    fc.assert(
      fc.property(arbShape(2, 5).chain(arbTensor), (t) => {
        const ms = mean({ shape: t.shape, data: t.data.map((x) => x * x) }, 0);
        const m = mean(t, 0);
        expectClose(variance(t, 0), { shape: m.shape, data: ms.data.map((x, i) => x - m.data[i] ** 2) }, { rtol: 1e-9, atol: 1e-9 });
      }),
      FC,
    );
  });
});

describe('largest', () => {
  it('is the largest value (|value| with abs) of arrays far past what Math.max(...xs) can take', () => {
    const xs = new Float64Array(300_000).map((_, i) => Math.sin(i));
    xs[123_456] = -7;
    xs[200_001] = 5;
    expect(largest(xs)).toBe(5);
    expect(largest(xs, true)).toBe(7);
    expect(largest([])).toBe(Number.NEGATIVE_INFINITY);
    expect(largest([1, Number.NaN, 3])).toBeNaN();
    expect(largest(Int32Array.from([2, 9, 4]))).toBe(9);
  });
});

describe('countCorrect', () => {
  it('counts rows whose first largest entry is the label (ties to the first, NaN rows wrong), from an offset', () => {
    const y = Float32Array.of(0.1, 0.9, 0.0, /**/ 2, 2, 1, /**/ 0, Number.NaN, 5, /**/ -1, -3, -2);
    expect(countCorrect(y, 3, [1, 0, 2, 0])).toBe(3); // rows 0, 1 and 3 right; row 2 has NaN
    expect(countCorrect(y, 3, [9, 1, 0, 2, 0], 1)).toBe(3);
    expect(countCorrect(y, 3, [1, 1, 2, 2])).toBe(1);
  });
  it('agrees with indexOf(Math.max(...row)) on random rows', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 12, maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 3, maxLength: 3 }), (vals, labels) => {
        const y = Float32Array.from(vals);
        let right = 0;
        for (let r = 0; r < 3; r++) {
          const row = Array.from(y.subarray(r * 4, r * 4 + 4));
          if (row.indexOf(Math.max(...row)) === labels[r]) right++;
        }
        expect(countCorrect(y, 4, labels)).toBe(right);
      }),
      { seed: 7 },
    );
  });
});
