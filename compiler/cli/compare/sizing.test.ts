// The budget search: within 5% wherever some sizes are, the defaults' proportions preferred, one
// knob (LoRA's r) equal to the brute-force nearest count; property-tested on Lily-like and
// LoRA-like counts (fast-check, fixed seeds).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUDGET_TOLERANCE, chooseSizes, proportionDistance, type Knob } from './sizing.ts';

// Lily on 4 layers of 64 → 64 (one A per layer, B shared by all, a router per layer) plus a head of 650.
const lilyCount = (v: Record<string, number>) => 4 * 64 * v.r + v.E * v.r * 64 + 4 * v.r * v.E + 650;
const LILY: Knob[] = [{ name: 'r', default: 32 }, { name: 'E', default: 2 }];
const loraCount = (v: Record<string, number>) => 4 * v.r * 128 + 650;

describe('chooseSizes', () => {
  it('one knob: the value whose count is nearest the budget (as a brute-force search finds)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 700, max: 400_000 }), (budget) => {
        const got = chooseSizes([{ name: 'r', default: 8 }], loraCount, budget);
        let best = 2;
        for (let r = 2; r <= 4096; r++) if (Math.abs(loraCount({ r }) - budget) < Math.abs(loraCount({ r: best }) - budget)) best = r;
        expect(Math.abs(got.count - budget)).toBe(Math.abs(loraCount({ r: best }) - budget));
      }),
      { seed: 14, numRuns: 200 },
    );
  });

  it('two knobs: within 5% wherever a brute-force search finds sizes within 5%, as near the defaults’ proportions as any', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 200_000 }), (budget) => {
        const got = chooseSizes(LILY, lilyCount, budget);
        let feasible = false;
        let bestDistance = Infinity;
        for (let r = 2; r <= 512; r++)
          for (let E = 2; E <= 64; E++)
            if (Math.abs(lilyCount({ r, E }) - budget) <= BUDGET_TOLERANCE * budget) {
              feasible = true;
              bestDistance = Math.min(bestDistance, proportionDistance({ r, E }, LILY));
            }
        expect(got.within).toBe(feasible);
        if (feasible) {
          expect(Math.abs(got.count - budget)).toBeLessThanOrEqual(BUDGET_TOLERANCE * budget);
          // Step 1 scales both knobs together; step 2 only moves one: the proportions are close to the best possible.
          expect(proportionDistance(got.values, LILY)).toBeLessThanOrEqual(bestDistance + 0.25);
        }
      }),
      { seed: 7, numRuns: 40 },
    );
  });

  it("Lily keeps r/E near its defaults' 16 where that fits, and changes E where r alone cannot land within 5%", () => {
    const big = chooseSizes(LILY, lilyCount, 50_000);
    expect(big.within).toBe(true);
    expect(big.values.r / big.values.E).toBeGreaterThan(10);
    expect(big.values.r / big.values.E).toBeLessThan(24);
    // A small budget: r = 6, 7 at E = 2 give 3002 and 3394, both outside 3200 ± 5% (as r = 5, 6 at E = 3); more experts land in it.
    expect([lilyCount({ r: 6, E: 2 }), lilyCount({ r: 7, E: 2 })]).toEqual([3002, 3394]);
    const small = chooseSizes(LILY, lilyCount, 3200);
    expect(small.within).toBe(true);
    expect(small.values.E).toBeGreaterThan(3);
    expect(Math.abs(small.count - 3200)).toBeLessThanOrEqual(160);
  });

  it('a budget below the smallest sizes: the smallest, reported as not within; no knob with a default of 2 or more below 2 (E = 1 is no mixture)', () => {
    const s = chooseSizes(LILY, lilyCount, 100);
    expect(s).toMatchObject({ values: { r: 2, E: 2 }, within: false });
    expect(chooseSizes([{ name: 'r', default: 1 }], loraCount, 100).values).toEqual({ r: 1 });
  });
});
