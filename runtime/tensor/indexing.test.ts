import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { concat, slice, stack, take } from './indexing.ts';
import { transpose } from './linalg.ts';
import { FC, arange, arbShape, arbTensor, expectClose, expectTensor } from './test-util.ts';

const T = arange([2, 3, 2]); // [[[0,1],[2,3],[4,5]],[[6,7],[8,9],[10,11]]]

describe('take', () => {
  it('removes the axis', () => {
    expectTensor(take(T, 0, 1), [[6, 7], [8, 9], [10, 11]]);
    expectTensor(take(T, 1, 2), [[4, 5], [10, 11]]);
    expectTensor(take(T, -1, 0), [[0, 2, 4], [6, 8, 10]]);
    expectTensor(take(T, 1, -1), [[4, 5], [10, 11]]);
    expectTensor(take(arange([3]), 0, 2), 2);
    expect(() => take(T, 1, 3)).toThrow(/out of range/);
    expect(() => take(T, 3, 0)).toThrow(/out of range/);
  });
});

describe('slice', () => {
  it('selects a half-open range', () => {
    expectTensor(slice(T, 1, 1, 3), [[[2, 3], [4, 5]], [[8, 9], [10, 11]]]);
    expectTensor(slice(T, -1, 1), [[[1], [3], [5]], [[7], [9], [11]]]);
    expectTensor(slice(T, 0, -1), [[[6, 7], [8, 9], [10, 11]]]);
    expect(slice(T, 1, 2, 2).shape).toEqual([2, 0, 2]);
    expect(() => slice(T, 1, 2, 1)).toThrow(/invalid/);
    expect(() => slice(T, 1, 0, 4)).toThrow(/invalid/);
  });
});

describe('concat / stack', () => {
  it('concat along each axis', () => {
    const a = arange([2, 2]);
    const b = arange([2, 1]);
    expectTensor(concat([a, b], 1), [[0, 1, 0], [2, 3, 1]]);
    expectTensor(concat([a, arange([1, 2])], 0), [[0, 1], [2, 3], [0, 1]]);
    expectTensor(concat([a], -1), [[0, 1], [2, 3]]);
    expect(() => concat([a, b], 0)).toThrow(/incompatible/);
    expect(() => concat([], 0)).toThrow();
  });
  it('stack adds a new axis', () => {
    const a = arange([2]);
    const b = arange([2]).data.map((x) => x + 10);
    const bt = { shape: [2], data: b };
    expectTensor(stack([a, bt], 0), [[0, 1], [10, 11]]);
    expectTensor(stack([a, bt], 1), [[0, 10], [1, 11]]);
    expectTensor(stack([a, bt], -1), [[0, 10], [1, 11]]);
    expect(() => stack([a, arange([3])], 0)).toThrow(/differs/);
  });
  it('slices reassemble by concat; take of stack is identity (property)', () => {
    const arb = fc
      .tuple(arbShape(3, 4), fc.integer({ min: -3, max: 2 }))
      .chain(([s, ax]) => fc.tuple(arbTensor(s), fc.constant(ax), fc.integer({ min: 0, max: s[(ax + 3) % 3] })));
    fc.assert(
      fc.property(arb, ([t, ax, cut]) => {
        expectClose(concat([slice(t, ax, 0, cut), slice(t, ax, cut)], ax), t, { rtol: 0, atol: 0 });
        const s = stack([t, transpose(transpose(t))], ax < 0 ? ax - 1 : ax);
        expectClose(take(s, ax < 0 ? ax - 1 : ax, 1), t, { rtol: 0, atol: 0 });
        const n = t.shape[(ax + 3) % 3];
        const parts = Array.from({ length: n }, (_, i) => take(t, ax, i));
        expectClose(stack(parts, ax), t, { rtol: 0, atol: 0 });
      }),
      FC,
    );
  });
});
