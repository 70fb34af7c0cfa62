// The size fit behind size-generic exports: numbers that are monomials in the sizes stay free,
// anything else (min/max of sizes, affine terms) fixes the dimensions it depends on — never a fit
// that matches the probes by luck and is wrong elsewhere.
import { describe, expect, it } from 'vitest';
import { evalMonomial, fitDimensions, pyDim, type Probe } from './torch-symbolic.ts';

const probeOf =
  (f: (s: Record<string, number>) => number[], structure = 'p') =>
  (s: Record<string, number>): Probe => ({ structure, numbers: f(s) });

describe('fitDimensions', () => {
  it('keeps monomials free and reproduces them at other sizes', () => {
    const fit = fitDimensions({ N: 8, In: 16, r: 4 }, probeOf((s) => [s.N, s.In * s.r, 8 / s.r, Math.sqrt(s.In)]));
    expect(fit.free).toEqual(['N', 'In', 'r']);
    const at = { N: 3, In: 50, r: 7 };
    expect(fit.numbers.map((m) => evalMonomial(m, at))).toEqual([3, 350, 8 / 7, Math.sqrt(50)].map((v) => expect.closeTo(v, 12)));
  });

  it('fixes a dimension in min(In, Out) − r (MiLoRA), which one probe fits by luck as 27 / r', () => {
    const fit = fitDimensions({ In: 16, Out: 12, r: 3 }, probeOf((s) => [Math.min(s.In, s.Out) - s.r, s.In]));
    expect(fit.fixed).toHaveProperty('r');
    // whatever stays free must reproduce the program everywhere it is allowed to move
    for (const In of [4, 9, 16, 40])
      for (const Out of [5, 12, 30]) {
        const at = { In: fit.free.includes('In') ? In : 16, Out: fit.free.includes('Out') ? Out : 12, r: 3 };
        expect(evalMonomial(fit.numbers[0], at)).toBeCloseTo(Math.min(at.In, at.Out) - 3, 9);
      }
  });

  it('does not take max(In, Out) for Out where In < Out at export (SingLoRA)', () => {
    const fit = fitDimensions({ In: 12, Out: 16, r: 2 }, probeOf((s) => [Math.max(s.In, s.Out) * s.r]));
    for (const [In, Out] of [[20, 16], [12, 30], [30, 40]]) {
      const at = { In: fit.free.includes('In') ? In : 12, Out: fit.free.includes('Out') ? Out : 16, r: 2 };
      expect(evalMonomial(fit.numbers[0], at)).toBeCloseTo(Math.max(at.In, at.Out) * 2, 9);
    }
    expect(fit.free).toContain('r');
  });

  it('treats a point with another program structure as saying nothing (a constant that became 1)', () => {
    const fit = fitDimensions({ N: 8, r: 4 }, (s) => (s.r === 8 ? { structure: 'other', numbers: [] } : { structure: 'p', numbers: [s.N * s.r, 8 / s.r] }));
    expect(fit.free).toEqual(['N', 'r']);
  });
});

describe('pyDim', () => {
  const D = (d: string) => `D['${d}']`;
  it('spells declared dimensions in integer Python', async () => {
    const { dimSym, dimMul, dimAdd, dimConst, dimDiv, dimDerived } = await import('../check/dims.ts');
    expect(pyDim(dimSym('In'), D)).toBe("D['In']");
    expect(pyDim(dimDiv(dimSym('In'), dimSym('n'))!, D)).toBe("D['In'] // D['n']");
    expect(pyDim(dimMul(dimConst(2), dimSym('r')), D)).toBe("(2 * D['r'])");
    expect(pyDim(dimDerived('max', [dimSym('In'), dimSym('Out')]), D)).toBe("max(D['In'], D['Out'])");
    expect(pyDim(dimAdd(dimDerived('min', [dimSym('In'), dimSym('Out')]), dimSym('r'), -1), D)).toMatch(/^\(min\(D\['In'\], D\['Out'\]\) \+ \(-1 \* D\['r'\]\)\)$|^\(\(-1 \* D\['r'\]\) \+ min\(D\['In'\], D\['Out'\]\)\)$/);
  });
});
