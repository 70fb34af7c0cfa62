import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkSource } from './frontend.ts';
import { countParams } from './params.ts';

const lily = checkSource(readFileSync(new URL('../stdlib/adapters/lily.lily', import.meta.url), 'utf8'), 'lily.lily');

describe('parameter counts', () => {
  it("match PEFT's Lily formula ceil(L/stride)·r·In + E·r·Out + L·r·E", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 48 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), (L, stride, r, E, In, Out) => {
        const c = countParams(lily, lily.units.get('Lily')!, { In, Out, r, E, stride }, L);
        expect(c.trainable).toBe(Math.ceil(L / stride) * r * In + E * r * Out + L * r * E);
      }),
      { seed: 1, numRuns: 200 },
    );
  });

  it('uses the defaults r = 32, E = 2, stride = 1 from PEFT', () => {
    const c = countParams(lily, lily.units.get('Lily')!, { In: 768, Out: 768 }, 12);
    expect(c.trainable).toBe(12 * 32 * 768 + 2 * 32 * 768 + 12 * 32 * 2);
  });

  it("count a model's layer weights, once per repeated block, by path", () => {
    const tr = checkSource(readFileSync(new URL('../stdlib/layers/transformer.lily', import.meta.url), 'utf8'), 'transformer.lily');
    const [D, F, L] = [8, 16, 3];
    const c = countParams(tr, tr.units.get('TransformerEncoder')!, { D, heads: 2, F, L });
    const block = 2 * D + 4 * (D * D + D) + 2 * D + (D * F + F) + (F * D + D);
    expect(c.trainable).toBe(L * block + 2 * D);
    expect(c.params.map((p) => p.name)).toContain('blocks.2.attn.q.W');
  });
});
