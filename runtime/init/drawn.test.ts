import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { drawnTensor, normalSequence, pendingRecipe, toFloat32, writeFloat32, zerosWhenNeeded } from './drawn.ts';
import { initialize, initializeLazily, initializers } from './initializers.ts';
import { rng } from './rng.ts';
import { tensor } from '../tensor/tensor.ts';
import { FC } from '../tensor/test-util.ts';

const bytes = (a: Float32Array | Float64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** bit-identical (one comparison: toEqual on 10⁴ bytes is slow) */
const same = (a: Float32Array | Float64Array, b: Float32Array | Float64Array) => Buffer.from(bytes(a)).equals(bytes(b));
/** every initialiser that draws lazily, with arguments it accepts at [rows, cols] */
const LAZY: [string, Record<string, number>][] = [
  ['zeros', {}],
  ['ones', {}],
  ['constant', { value: -0.3 }],
  ['normal', { mean: 0.5, std: 2 }],
  ['uniform', { low: -3, high: 0.25 }],
  ['kaiming_uniform', {}],
  ['xavier_uniform', { gain: 1.5 }],
];

describe('initial values drawn when needed', () => {
  it('every initialiser with a fill is in the list above, and the others draw at once', () => {
    const withFill = Object.entries(initializers).filter(([, s]) => 'fill' in s).map(([n]) => n);
    expect(withFill.sort()).toEqual(LAZY.map(([n]) => n).sort());
    // orthogonal has no fill: its values exist as soon as it is called
    const t = initializeLazily('orthogonal', [4, 3], {}, () => rng(1).fork('w'));
    expect(Object.getOwnPropertyDescriptor(t, 'data')?.get).toBeUndefined();
  });

  it('float64 and float32 values are bit-identical to the eager initialiser, in either order of asking', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: -5, max: 5 }), fc.boolean(), (rows, cols, seed, f32First) => {
        for (const [name, args] of LAZY) {
          const eager = initialize(name, [rows, cols], args, rng(seed).fork('p'));
          const lazy = initializeLazily(name, [rows, cols], args, () => rng(seed).fork('p'));
          const f32 = new Float32Array(rows * cols).fill(NaN); // every value written
          if (f32First) writeFloat32(lazy, f32); // drawn straight into float32, then again as float64
          expect(bytes(lazy.data), name).toEqual(bytes(eager.data));
          if (!f32First) writeFloat32(lazy, f32); // converted from the float64 values
          expect(bytes(f32), name).toEqual(bytes(new Float32Array(eager.data)));
          expect(lazy.shape).toEqual([rows, cols]);
        }
      }),
      FC,
    );
  });

  it('checks the shape and arguments when called, not when the values are drawn', () => {
    expect(() => initializeLazily('kaiming_uniform', [5], {}, () => rng(0))).toThrow(/rank >= 2/);
    expect(() => initializeLazily('normal', [2, 2], { sd: 1 }, () => rng(0))).toThrow(/unknown argument 'sd'/);
    expect(() => drawnTensor([2, -1], { draw: { kind: 'constant', value: 0 } })).toThrow(/invalid shape/);
  });

  it('draws nothing until asked, and once per array asked for', () => {
    let calls = 0;
    const t = drawnTensor([3], { draw: { kind: 'uniform', low: 0, high: 1 }, stream: () => (calls++, rng(4)) });
    const want = new Float64Array(3);
    rng(4).uniformInto(want, 0, 1);
    expect(calls).toBe(0);
    expect(pendingRecipe(t)?.draw.kind).toBe('uniform');
    expect(Array.from(toFloat32(t))).toEqual(Array.from(want, Math.fround));
    expect(calls).toBe(1);
    expect(Array.from(t.data)).toEqual(Array.from(want));
    expect(pendingRecipe(t)).toBeUndefined(); // the float64 values exist now
    expect(Array.from({ ...t }.data)).toEqual(Array.from(want)); // a spread copy carries the values
    expect(calls).toBe(2);
    toFloat32(t); // from the float64 values now
    expect(calls).toBe(2);
    expect(pendingRecipe(tensor([2]))).toBeUndefined();
  });

  it('zerosWhenNeeded writes zeros over whatever the array held', () => {
    const out = new Float32Array(6).fill(NaN);
    writeFloat32(zerosWhenNeeded([2, 3]), out);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(zerosWhenNeeded([2]).data)).toEqual([0, 0]);
  });

  it('writeFloat32 refuses an array of the wrong length and converts a plain tensor', () => {
    expect(() => writeFloat32(tensor([2, 2]), new Float32Array(3))).toThrow(/4 values, the array 3/);
    expect(Array.from(toFloat32(tensor([2], [0.1, 1 / 3])))).toEqual([Math.fround(0.1), Math.fround(1 / 3)]);
  });

  it('normalSequence: each tensor starts where the previous one ended, whichever is drawn first', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 5 }), (sizes, order) => {
        const eager = rng(3).fork('inputs');
        const want = sizes.map((n) => {
          const a = new Float64Array(n);
          eager.normalInto(a);
          return a;
        });
        const seq = normalSequence(rng(3).fork('inputs'));
        const lazy = sizes.map((n) => seq.next([n]));
        const at = sizes.map((_, i) => (i + order) % sizes.length); // ask out of order
        for (const i of at) expect(same(toFloat32(lazy[i]), new Float32Array(want[i])), `tensor ${i} as float32`).toBe(true);
        for (const i of at) expect(same(lazy[i].data, want[i]), `tensor ${i} as float64`).toBe(true);
      }),
      { ...FC, numRuns: 15 },
    );
  });
});
