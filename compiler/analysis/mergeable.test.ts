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

const MERGEABLE = ['LoRA', 'LilyStatic', 'MoSLoRA', 'DoRA', 'VeRA', 'LoHa', 'LoKr', 'AdaLoRA', 'FourierFT', 'MoRA', 'BitFit', 'IA3'];
const NOT = { Lily: 'softmax', LilyToken: 'softmax', LilyV2: 'softmax', HydraLoRA: 'softmax', LilyMLP: 'relu', Houlsby: 'gelu', AdaptFormer: 'relu' } as Record<string, string>;
const DIMS = { In: 8, Out: 4, r: 2, E: 2, P: 2, n: 3, f: 2, rh: 2 };

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
});
