import { describe, expect, it } from 'vitest';
import {
  allClose, fromNested, full, normAxis, numel, scalar, shapeEq, stridesOf, tensor, toNested, unravel, zeros,
} from './tensor.ts';

describe('constructors', () => {
  it('tensor copies data and checks length', () => {
    const src = [1, 2, 3, 4, 5, 6];
    const t = tensor([2, 3], src);
    src[0] = 99;
    expect(t.data[0]).toBe(1);
    expect(t.shape).toEqual([2, 3]);
    expect(() => tensor([2, 3], [1, 2])).toThrow(/needs 6/);
    expect(() => tensor([-1])).toThrow(/invalid shape/);
  });
  it('scalar, zeros, full', () => {
    expect(scalar(3)).toEqual({ shape: [], data: Float64Array.of(3) });
    expect(Array.from(zeros([2, 2]).data)).toEqual([0, 0, 0, 0]);
    expect(Array.from(full([3], 7).data)).toEqual([7, 7, 7]);
  });
  it('numel and strides', () => {
    expect(numel([])).toBe(1);
    expect(numel([2, 0, 3])).toBe(0);
    expect(stridesOf([2, 3, 4])).toEqual([12, 4, 1]);
    expect(stridesOf([])).toEqual([]);
  });
  it('shapeEq, normAxis, unravel', () => {
    expect(shapeEq([2, 3], [2, 3])).toBe(true);
    expect(shapeEq([2, 3], [3, 2])).toBe(false);
    expect(shapeEq([2], [2, 1])).toBe(false);
    expect(normAxis(-1, 3)).toBe(2);
    expect(() => normAxis(3, 3)).toThrow();
    expect(() => normAxis(-4, 3)).toThrow();
    expect(unravel(23, [2, 3, 4])).toEqual([1, 2, 3]);
    expect(unravel(5, [2, 3, 4])).toEqual([0, 1, 1]);
  });
});

describe('nested conversion', () => {
  it('round-trips', () => {
    const n = [[[1, 2], [3, 4], [5, 6]]];
    const t = fromNested(n);
    expect(t.shape).toEqual([1, 3, 2]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(toNested(t)).toEqual(n);
  });
  it('handles scalars and empties', () => {
    expect(fromNested(5)).toEqual(scalar(5));
    expect(toNested(scalar(5))).toBe(5);
    expect(fromNested([]).shape).toEqual([0]);
  });
  it('rejects ragged arrays', () => {
    expect(() => fromNested([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => fromNested([[1, 2], 3])).toThrow(/ragged/);
    expect(() => fromNested([1, [2]])).toThrow(/ragged/);
  });
});

describe('allClose', () => {
  it('accepts within tolerance and reports no index when identical', () => {
    const a = tensor([2], [1, 2]);
    expect(allClose(a, a)).toEqual({ ok: true, maxAbs: 0, maxRel: 0 });
    const r = allClose(tensor([2], [1, 2 + 1e-12]), a, { rtol: 1e-9, atol: 0 });
    expect(r.ok).toBe(true);
  });
  it('locates the worst entry', () => {
    const b = tensor([2, 2], [1, 2, 3, 4]);
    const a = tensor([2, 2], [1, 2.001, 3.5, 4]);
    const r = allClose(a, b, { rtol: 0, atol: 1e-6 });
    expect(r.ok).toBe(false);
    expect(r.index).toEqual([1, 0]);
    expect(r.maxAbs).toBeCloseTo(0.5, 12);
    expect(r.maxRel).toBeCloseTo(0.5 / 3, 12);
  });
  it('uses the tolerance relative to the reference', () => {
    // |diff| = 1 is within rtol * |b| = 0.01 * 1000, the worst by excess is the small entry.
    const r = allClose(tensor([2], [1001, 1.1]), tensor([2], [1000, 1]), { rtol: 0.01, atol: 0 });
    expect(r.ok).toBe(false);
    expect(r.index).toEqual([1]);
  });
  it('treats NaN, infinities and shape mismatch strictly', () => {
    expect(allClose(tensor([1], [NaN]), tensor([1], [NaN])).ok).toBe(true);
    expect(allClose(tensor([1], [NaN]), tensor([1], [0])).ok).toBe(false);
    expect(allClose(tensor([1], [Infinity]), tensor([1], [Infinity])).ok).toBe(true);
    expect(allClose(tensor([1], [Infinity]), tensor([1], [-Infinity])).ok).toBe(false);
    expect(allClose(tensor([1], [1e300]), tensor([1], [Infinity]), { rtol: 1 }).ok).toBe(false);
    expect(allClose(tensor([2], [1, 2]), tensor([1, 2], [1, 2])).ok).toBe(false);
  });
});
