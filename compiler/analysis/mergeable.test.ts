// Mergeability of every stdlib adapter: the verdict, and for mergeable ones that x ΔW + Δb
// reproduces the adapter (checked inside mergeVerdict against the interpreter; here we check the
// verdicts and that unmergeable ones name the operation that depends on x).
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../frontend.ts';
import { mergeVerdict } from './mergeable.ts';

const dir = new URL('../../stdlib/adapters/', import.meta.url);
const checked = new Map(readdirSync(dir).filter((f) => f.endsWith('.lily')).flatMap((f) => {
  const c = checkSource(readFileSync(new URL(f, dir), 'utf8'), f);
  return [...c.units.keys()].map((u) => [u, c] as const);
}));

const MERGEABLE = ['LoRA', 'LilyStatic', 'MoSLoRA', 'DoRA', 'VeRA', 'LoHa', 'LoKr', 'AdaLoRA', 'FourierFT', 'MoRA', 'BitFit', 'IA3', 'LoRAPlus', 'DyLoRA', 'PiSSA', 'MiLoRA', 'LoRAXS', 'MELoRA', 'VBLoRA', 'C3A'];
const NOT = { Lily: 'softmax', LilyToken: 'softmax', LilyV2: 'softmax', HydraLoRA: 'softmax', LilyMLP: 'relu', Houlsby: 'gelu', AdaptFormer: 'relu', LilyTopK: 'softmax', FlyLoRA: 'abs', Compacter: 'gelu' } as Record<string, string>;
const DIMS = { In: 8, Out: 4, r: 2, E: 2, P: 2, n: 2, f: 2, rh: 2, k: 1, h: 3, b: 2 };

describe('mergeability of the stdlib', () => {
  for (const name of MERGEABLE)
    it(`${name} merges into W0 (ΔW reproduces it)`, () => {
      const v = mergeVerdict(checked.get(name)!, name, DIMS);
      expect(v.mergeable, v.reason).toBe(true);
      expect(v.deltaW?.shape).toEqual([8, 4]);
    });
  for (const [name, op] of Object.entries(NOT))
    it(`${name} does not merge, and the reason names ${op}`, () => {
      const v = mergeVerdict(checked.get(name)!, name, DIMS);
      expect(v.mergeable).toBe(false);
      expect(v.reason).toContain(op);
      expect(v.reason).toMatch(/\.lily:\d+:\d+/);
    });

  it("SingLoRA's ΔW follows its ramp: merging needs the step, and ΔW(step) = min(step / T, 1)·ΔW(T)", () => {
    const c = checked.get('SingLoRA')!;
    const dims = { In: 5, Out: 3, r: 2, T: 4 };
    expect(() => mergeVerdict(c, 'SingLoRA', dims, 0, 'init')).toThrow(/--step/);
    const full = mergeVerdict(c, 'SingLoRA', dims, 0, 'init', undefined, 8).deltaW!;
    const half = mergeVerdict(c, 'SingLoRA', dims, 0, 'init', undefined, 2).deltaW!;
    expect(Math.max(...full.data.map(Math.abs))).toBeGreaterThan(1e-3);
    half.data.forEach((v, i) => expect(v).toBeCloseTo(0.5 * full.data[i], 12));
  });

  it('a linear adapter that mixes tokens is refused, even when B starts at zero', () => {
    const src = 'adapter Mix(r: Dim = 2) on Linear[In, Out] {\n  param A: [In, r] = normal\n  param B: [r, Out] = zeros\n  delta(x: [N, In]) -> [N, Out] = broadcast[N, Out](mean[N](x @ A @ B)) + 0.0 * (x @ A @ B)\n}';
    const c = checkSource(src, 'mix.lily');
    for (const params of ['init', 'random'] as const) {
      const v = mergeVerdict(c, 'Mix', { In: 3, Out: 2 }, 0, params);
      expect(v.mergeable).toBe(false);
      expect(v.reason).toContain('mixes tokens');
    }
  });

  it('an adapter scaled by the number of tokens is refused for that reason, not as token mixing, whatever N is given', () => {
    const src = 'adapter NS(r: Dim = 2) on Linear[In, Out] {\n  param A: [In, r] = normal\n  param B: [r, Out] = normal\n  delta(x: [N, In]) -> [N, Out] = (x @ A @ B) / N\n}';
    const c = checkSource(src, 'ns.lily');
    // In = 3 and In = 4 exercise both choices of the second row count; N = In once made it pass.
    for (const dims of [{ In: 4, Out: 2 }, { In: 3, Out: 2 }, { N: 4, In: 4, Out: 2 }] as Record<string, number>[]) {
      const v = mergeVerdict(c, 'NS', dims, 0);
      expect(v.mergeable, JSON.stringify(dims)).toBe(false);
      expect(v.reason).toMatch(/acts on each token alone, but its map depends on the number of tokens N/);
      expect(v.reason).not.toContain('mixes tokens');
    }
  });

  it('ΔW of an untrained LoRA is zero (B starts at zero); with random values it is not', () => {
    const c = checked.get('LoRA')!;
    expect(mergeVerdict(c, 'LoRA', DIMS, 0, 'init').deltaW!.data.every((v) => v === 0)).toBe(true);
    expect(mergeVerdict(c, 'LoRA', DIMS, 0, 'random').deltaW!.data.some((v) => v !== 0)).toBe(true);
  });
});
