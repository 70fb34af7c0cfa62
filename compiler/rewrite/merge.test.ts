// Inlining an einsum into its consumer renames the inner letters: the per-letter table against the
// plain version with maps.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../ir/prims/einsum.ts';
import { renamedInner, renamedInnerGeneral } from './merge.ts';

describe('renaming an inlined einsum', () => {
  it('equals the plain renaming (maps), running out of letters alike (property)', () => {
    const letters = fc.constantFrom(...'abcdefgXYZ');
    const sub = fc.array(letters, { maxLength: 4 }).map((cs) => cs.join(''));
    const case_ = fc.record({
      ins: fc.array(sub, { minLength: 1, maxLength: 3 }),
      outLen: fc.nat(3),
      as: fc.array(fc.constantFrom(...'pqrs'), { minLength: 3, maxLength: 3 }).map((cs) => cs.join('')),
      // the consumer's spec: its letters are taken, sometimes nearly all of them
      consumer: fc.oneof(sub, fc.constant('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW')),
    });
    fc.assert(
      fc.property(case_, ({ ins, outLen, as, consumer }) => {
        const used = [...new Set(ins.join(''))];
        const si = parseSpec(`${ins.join(',')}->${used.slice(0, outLen).join('')}`);
        expect(renamedInner(si, as, consumer)).toEqual(renamedInnerGeneral(si, as, consumer));
      }),
      { seed: 17, numRuns: 1000 },
    );
  });
  it('example: output letters take the consumer’s, summed ones the first letters it does not use', () => {
    expect(renamedInner(parseSpec('ab,bc->ac'), 'xy', 'xy,z->z')).toEqual(['xa', 'ay']);
  });
});
