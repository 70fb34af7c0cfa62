// The einsum canonical form's fast path (alreadyCanonical) against the canonical form itself.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alreadyCanonical, canonical, parseSpec } from './einsum.ts';

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
