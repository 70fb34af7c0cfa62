// The hash-consing key of a node's attributes (stableJson): the fast version against the plain one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stableJson } from './graph.ts';

/** The definition: arrays and objects mapped element by element, object keys sorted, undefined fields left out. */
function reference(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${k}:${reference((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

describe('stableJson', () => {
  it('is the plain definition, for any JSON-like value with undefined fields and holes (property)', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined)),
      arr: fc.array(tie('any'), { maxLength: 4 }),
      obj: fc.dictionary(fc.string({ maxLength: 3 }), tie('any'), { maxKeys: 4 }),
      any: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('arr'), tie('obj')),
    })).any;
    fc.assert(
      fc.property(value, (v) => {
        expect(stableJson(v)).toBe(reference(v));
      }),
      { seed: 13, numRuns: 500 },
    );
  });
  it('orders keys, so equal attributes hash equal', () => {
    expect(stableJson({ b: 1, a: [2, { d: 'x', c: undefined }] })).toBe(stableJson({ a: [2, { d: 'x' }], b: 1 }));
    expect(stableJson(Float64Array.of(1, 2))).toBe(reference(Float64Array.of(1, 2)));
  });
});
