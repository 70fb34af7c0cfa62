// The einsum canonical form's fast path (alreadyCanonical) against the canonical form itself.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Graph } from '../graph.ts';
import { primitive } from '../prims.ts';
import { alreadyCanonical, canonical, einsumFlops, einsumShape, formatSpec, indexSizes, lettersAmong, parseSpec } from './einsum.ts';

describe('alreadyCanonical', () => {
  it('is true exactly when canonical() leaves operands and spec unchanged (property)', () => {
    const letters = fc.constantFrom(...'abcdeAB');
    const sub = fc.array(letters, { maxLength: 3 }).map((cs) => cs.join(''));
    const einsum = fc.record({ subs: fc.array(sub, { minLength: 1, maxLength: 4 }), out: sub, ids: fc.array(fc.nat(3), { minLength: 4, maxLength: 4 }) });
    fc.assert(
      fc.property(einsum, ({ subs, out, ids }) => {
        const spec = `${subs.join(',')}->${out}`;
        const inputs = ids.slice(0, subs.length);
        const c = canonical(inputs, parseSpec(spec));
        expect(alreadyCanonical(inputs, parseSpec(spec))).toBe(c.spec === spec && c.inputs.every((id, k) => id === inputs[k]));
      }),
      { seed: 5, numRuns: 3000 },
    );
  });
  it('examples: sorted and named in order; out of order; letters skipped', () => {
    expect(alreadyCanonical([1, 2], parseSpec('bc,ca->ba'))).toBe(false); // the output names a and b first
    expect(alreadyCanonical([1, 2], parseSpec('ac,cb->ab'))).toBe(true);
    expect(alreadyCanonical([2, 1], parseSpec('ac,cb->ab'))).toBe(false);
    expect(alreadyCanonical([1, 2], parseSpec('ad,db->ab'))).toBe(false);
  });
});

describe('einsum shapes and FLOP counts (per-letter marks) against the map of index sizes', () => {
  it('agree on every spec with consistent sizes, and reject inconsistent ones alike (property)', () => {
    const letters = fc.constantFrom(...'abcdeAB');
    const sub = fc.array(letters, { maxLength: 3 }).map((cs) => cs.join(''));
    const case_ = fc.record({ subs: fc.array(sub, { minLength: 1, maxLength: 4 }), outPick: fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }), sizes: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 7, maxLength: 7 }), clash: fc.boolean() });
    fc.assert(
      fc.property(case_, ({ subs, outPick, sizes, clash }) => {
        const used = [...new Set(subs.join(''))];
        const s = parseSpec(`${subs.join(',')}->${used.filter((_, i) => outPick[i]).join('')}`);
        const size = (c: string) => sizes['abcdeAB'.indexOf(c)];
        const shapes = subs.map((x) => [...x].map(size));
        // sometimes one axis disagrees with the others of its letter
        const k = shapes.findIndex((sh) => sh.length > 0);
        const repeated = used.some((c) => subs.join('').split(c).length > 2);
        if (clash && k >= 0 && repeated) shapes[k][0] += 1;
        let expected: number[] | string;
        try {
          const sizesMap = indexSizes(s, shapes);
          expected = [...s.out].map((c) => sizesMap.get(c)!);
          expect(einsumFlops(s, sizesMap)).toBe(reference(s, sizesMap));
          // the primitive's count of a node (read off its operands' shapes)
          const g = new Graph();
          const id = g.add('einsum', shapes.map((shape, i) => g.add('input', [], { name: `#${i}`, shape })), { spec: formatSpec(s) });
          const n = g.node(id);
          if (n.op === 'einsum') expect(primitive('einsum').flops(n, g)).toBe(reference(parseSpec(n.attrs.spec as string), indexSizes(parseSpec(n.attrs.spec as string), n.inputs.map((i) => g.shape(i)))));
        } catch (e) {
          expected = (e as Error).message;
        }
        let got: number[] | string;
        try {
          got = einsumShape(s, shapes);
        } catch (e) {
          got = (e as Error).message;
        }
        expect(got).toEqual(expected);
      }),
      { seed: 9, numRuns: 2000 },
    );
  });
});

/** FLOPs by definition: the product of the index space times (operands − 1, plus one if anything is summed). */
function reference(s: { ins: string[]; out: string }, sizes: Map<string, number>): number {
  const all = [...new Set(s.ins.join(''))];
  const summed = all.some((c) => !s.out.includes(c));
  return all.reduce((p, c) => p * sizes.get(c)!, 1) * (s.ins.length - 1 + (summed ? 1 : 0));
}

describe('lettersAmong', () => {
  it('is the distinct letters of a text found in the allowed texts, in order of first appearance (property, ASCII and not)', () => {
    const text = fc.array(fc.constantFrom(...'abcdeAé'), { maxLength: 8 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(text, fc.array(text, { maxLength: 3 }), (t, allowed) => {
        const pool = new Set(allowed.join(''));
        expect(lettersAmong(t, allowed)).toBe([...new Set([...t].filter((c) => pool.has(c)))].join(''));
      }),
      { seed: 3, numRuns: 300 },
    );
  });
});
