import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { add, arith, type ArithOp, broadcastAxes, broadcastShapes, broadcastTo, map, mul, sub, zipWith } from './elementwise.ts';
import { fromNested, scalar, stridesOf, tensor } from './tensor.ts';
import { FC, arange, arbShape, arbTensor, expectTensor } from './test-util.ts';

describe('map / zipWith', () => {
  it('maps', () => {
    expectTensor(map(fromNested([[1, -2]]), (x) => x * 10), [[10, -20]]);
  });
  it('same-shape zip', () => {
    expectTensor(sub(fromNested([5, 7]), fromNested([1, 2])), [4, 5]);
  });
  it('broadcasts a row against a column', () => {
    const col = fromNested([[1], [2], [3]]);
    const row = fromNested([10, 20]);
    expectTensor(add(col, row), [[11, 21], [12, 22], [13, 23]]);
    expectTensor(sub(row, col), [[9, 19], [8, 18], [7, 17]]);
  });
  it('broadcasts scalars and leading dims', () => {
    expectTensor(mul(scalar(2), fromNested([[1, 2], [3, 4]])), [[2, 4], [6, 8]]);
    const a = arange([2, 1, 3]); // [[[0,1,2]],[[3,4,5]]]
    const b = fromNested([[100], [200]]); // [2, 1]
    expectTensor(add(a, b), [
      [[100, 101, 102], [200, 201, 202]],
      [[103, 104, 105], [203, 204, 205]],
    ]);
  });
  it('rejects incompatible shapes', () => {
    expect(() => add(arange([2, 3]), arange([2]))).toThrow(/broadcast/);
    expect(() => broadcastShapes([3], [4])).toThrow();
  });
  it('broadcastShapes follows NumPy', () => {
    expect(broadcastShapes([8, 1, 6, 1], [7, 1, 5])).toEqual([8, 7, 6, 5]);
    expect(broadcastShapes([], [2, 3])).toEqual([2, 3]);
    expect(broadcastShapes([0], [1])).toEqual([0]);
  });
  it('zipWith equals explicit broadcastTo on both sides (property)', () => {
    // Shapes derived from a common shape with random dims squashed to 1 and leading dims dropped.
    const arb = arbShape(3).chain((full) =>
      fc.tuple(fc.constant(full), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 3 }))
        .chain(([s, ones, drop]) => {
          const sa = s.map((d, i) => (ones[i] ? 1 : d));
          const sb = s.slice(drop);
          return fc.tuple(arbTensor(sa), arbTensor(sb));
        }),
    );
    fc.assert(
      fc.property(arb, ([a, b]) => {
        const z = zipWith(a, b, (x, y) => x - 2 * y);
        const shape = broadcastShapes(a.shape, b.shape);
        const A = broadcastTo(a, shape);
        const B = broadcastTo(b, shape);
        expect(z.shape).toEqual(shape);
        expect(Array.from(z.data)).toEqual(Array.from(A.data, (x, i) => x - 2 * B.data[i]));
      }),
      FC,
    );
  });
});

describe('broadcastTo / broadcastAxes', () => {
  it('broadcastTo repeats along new and size-1 axes', () => {
    expectTensor(broadcastTo(fromNested([[1], [2]]), [2, 2, 3]), [
      [[1, 1, 1], [2, 2, 2]],
      [[1, 1, 1], [2, 2, 2]],
    ]);
    expect(() => broadcastTo(arange([3]), [2, 2])).toThrow();
    expect(() => broadcastTo(arange([2, 2]), [2])).toThrow();
  });
  it('broadcastAxes inserts axes by map (name-aligned broadcasting)', () => {
    // v over axis "r" of size 3 broadcast into [n=2, r=3, o=2]: input axis 0 -> output axis 1.
    const v = fromNested([1, 2, 3]);
    expectTensor(broadcastAxes(v, [2, 3, 2], [1]), [
      [[1, 1], [2, 2], [3, 3]],
      [[1, 1], [2, 2], [3, 3]],
    ]);
  });
  it('broadcastAxes with a non-monotone map permutes', () => {
    const m = fromNested([[1, 2, 3], [4, 5, 6]]); // [2, 3]
    expectTensor(broadcastAxes(m, [3, 2], [1, 0]), [[1, 4], [2, 5], [3, 6]]);
  });
  it('broadcastAxes validates', () => {
    expect(() => broadcastAxes(arange([2]), [2, 2], [0, 1])).toThrow(/axisMap/);
    expect(() => broadcastAxes(arange([2, 2]), [2, 2], [0, 0])).toThrow(/injective/);
    expect(() => broadcastAxes(arange([3]), [2, 2], [1])).toThrow(/expand/);
    expect(() => broadcastAxes(arange([2]), [2], [1])).toThrow(/injective/);
  });
  it('broadcastAxes agrees with an explicit index formula (property)', () => {
    fc.assert(
      fc.property(arbShape(3), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }), (out, i0, i1) => {
        fc.pre(i0 !== i1);
        const t = arange([out[i0], out[i1]]);
        const r = broadcastAxes(t, out, [i0, i1]);
        const st = stridesOf(out);
        for (let a = 0; a < out[0]; a++)
          for (let b = 0; b < out[1]; b++)
            for (let c = 0; c < out[2]; c++) {
              const idx = [a, b, c];
              expect(r.data[a * st[0] + b * st[1] + c * st[2]]).toBe(idx[i0] * out[i1] + idx[i1]);
            }
      }),
      FC,
    );
  });
  it('handles rank-0 and empty tensors', () => {
    expectTensor(broadcastTo(scalar(4), [2]), [4, 4]);
    expect(broadcastTo(tensor([1, 0]), [3, 0]).shape).toEqual([3, 0]);
  });
});

describe('arith', () => {
  const CLOSURE: Record<ArithOp, (x: number, y: number) => number> = {
    '+': (x, y) => x + y,
    '-': (x, y) => x - y,
    '*': (x, y) => x * y,
    '/': (x, y) => x / y,
    '**': (x, y) => x ** y,
  };
  const ops = Object.keys(CLOSURE) as ArithOp[];
  it('equals zipWith with the op as a closure, bit for bit: equal shapes, a scalar either side, broadcasting (property)', () => {
    // b's shape: a's, a trailing part of it, [] (a scalar), a one-element [1, 1], or a's with size-1 axes
    const arb = fc
      .tuple(fc.integer({ min: 0, max: 3 }).chain((rank) => arbShape(rank)), fc.integer({ min: 0, max: 4 }), fc.constantFrom(...ops), fc.boolean())
      .chain(([shape, kind, op, swap]) => {
        const bShape = [shape, shape.slice(1), [], shape.map(() => 1), shape.map((d, i) => (i === 0 ? 1 : d))][kind];
        return fc.tuple(arbTensor(shape), arbTensor(bShape), fc.constant(op), fc.constant(swap));
      });
    fc.assert(
      fc.property(arb, ([a, b, op, swap]) => {
        const [x, y] = swap ? [b, a] : [a, b];
        const got = arith(op, x, y);
        const want = zipWith(x, y, CLOSURE[op]);
        expect(got.shape).toEqual(want.shape);
        expect(Array.from(got.data)).toEqual(Array.from(want.data));
      }),
      FC,
    );
  });
  it('into an operand: the numbers of a new array, written over that operand where it has the result\'s shape (property)', () => {
    const arb = fc
      .tuple(fc.integer({ min: 0, max: 3 }).chain((rank) => arbShape(rank)), fc.integer({ min: 0, max: 3 }), fc.constantFrom(...ops), fc.boolean())
      .chain(([shape, kind, op, swap]) => {
        const bShape = [shape, [], shape.slice(1), shape.map(() => 1)][kind];
        return fc.tuple(arbTensor(shape), arbTensor(bShape), fc.constant(op), fc.constant(swap), fc.boolean());
      });
    fc.assert(
      fc.property(arb, ([a, b, op, swap, intoLeft]) => {
        const [x, y] = swap ? [b, a] : [a, b];
        const want = arith(op, x, y);
        const into = intoLeft ? x : y;
        const before = Float64Array.from(into.data);
        const got = arith(op, x, y, into);
        expect(got.shape).toEqual(want.shape);
        expect(Array.from(got.data)).toEqual(Array.from(want.data));
        const fits = into.data.length === want.data.length && into.shape.join() === want.shape.join();
        expect(got.data === into.data, `[${into.shape}] into a [${want.shape}] result`).toBe(fits);
        if (!fits) expect(Array.from(into.data), 'an operand that does not fit is left alone').toEqual(Array.from(before));
      }),
      FC,
    );
  });
  it('into a tensor that is not an operand: a new array, that tensor left alone', () => {
    const other = fromNested([7, 7, 7]);
    const got = arith('+', fromNested([1, 2, 3]), fromNested([1, 1, 1]), other);
    expectTensor(got, [2, 3, 4]);
    expect(got.data).not.toBe(other.data);
    expectTensor(other, [7, 7, 7]);
  });
  it('takes a scalar on the left as the left operand', () => {
    expectTensor(arith('-', scalar(1), fromNested([1, 2, 3])), [0, -1, -2]);
    expectTensor(arith('/', fromNested([[2, 4]]), scalar(2)), [[1, 2]]);
    expectTensor(arith('**', scalar(2), fromNested([[3]])), [[8]]);
  });
});
