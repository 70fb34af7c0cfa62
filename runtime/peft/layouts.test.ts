// Each layout's toPeft and fromPeft are inverse (property-tested), and land on PEFT's shapes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LAYOUTS, peftShape, type Dense } from './layouts.ts';
import type { Layout } from './methods.ts';
import { methodForConfig, PEFT_METHODS, unsupportedFields } from './methods.ts';

const dense = (shape: number[], seed: number): Dense => ({ shape, data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed + 7 * i)) });

describe('PEFT layouts', () => {
  const cases: [Layout, (d: number[]) => number[]][] = [
    ['transpose', (d) => [d[0], d[1]]],
    ['experts', (d) => [d[0], d[1], d[2]]],
    ['magnitude', (d) => [d[1]]],
    ['same', (d) => [d[0], d[2]]],
  ];
  for (const [layout, shapeOf] of cases)
    it(`${layout}: fromPeft(toPeft(t)) = t, in PEFT's shape`, () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 3, maxLength: 3 }), fc.integer(), (dims, seed) => {
          const t = dense(shapeOf(dims), seed);
          const ctx = { baseW: dense([dims[0], dims[1]], seed + 1) };
          const p = LAYOUTS[layout].toPeft(t, ctx);
          expect(p.shape).toEqual(peftShape(layout, t.shape));
          const back = LAYOUTS[layout].fromPeft(p, t.shape, ctx);
          expect(back.shape).toEqual(t.shape);
          back.data.forEach((v, i) => expect(v).toBeCloseTo(t.data[i], 12));
        }),
        { seed: 7, numRuns: 40 },
      );
    });
  it("experts: expert e is rows e·r … e·r+r−1 of PEFT's 2-D lily_B", () => {
    const B = dense([3, 2, 4], 1); // [E, r, Out]
    const p = LAYOUTS.experts.toPeft(B, {});
    expect(p.shape).toEqual([6, 4]);
    for (let e = 0; e < 3; e++) for (let i = 0; i < 2; i++) for (let o = 0; o < 4; o++) expect(p.data[(e * 2 + i) * 4 + o]).toBe(B.data[(e * 2 + i) * 4 + o]);
  });
});

describe('PEFT configs', () => {
  it('the variant fields pick the method: LORA is LoRA, LORA with use_dora is DoRA; unknown types are refused', () => {
    expect((methodForConfig({ peft_type: 'LORA', use_dora: false }) as { name: string }).name).toBe('lora');
    expect((methodForConfig({ peft_type: 'LORA', use_dora: true }) as { name: string }).name).toBe('dora');
    expect(methodForConfig({ peft_type: 'LORA', use_dora: true, use_rslora: true })).toMatch(/no LORA variant/);
    expect(methodForConfig({ peft_type: 'VERA' })).toMatch(/not a method Lily reads/);
    expect(methodForConfig({})).toMatch(/no peft_type/);
  });
  it("a field switching on a feature the adapter does not compute is reported; PEFT's defaults are not", () => {
    const lora = PEFT_METHODS.find((m) => m.name === 'lora')!;
    expect(unsupportedFields(lora, { ...lora.defaults })).toEqual([]);
    expect(unsupportedFields(lora, { ...lora.defaults, bias: 'all', rank_pattern: { q: 2 } })).toEqual(['bias = "all"', 'rank_pattern = {"q":2}']);
  });
});
