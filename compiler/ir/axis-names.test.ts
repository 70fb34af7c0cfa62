import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkSource } from '../frontend.ts';
import { explain } from '../explain.ts';
import { compile } from '../pipeline.ts';
import { axisNames } from './axis-names.ts';

const lily = checkSource(readFileSync(new URL('../../stdlib/adapters/lily.lily', import.meta.url), 'utf8'), 'stdlib/adapters/lily.lily');
/** Every size equal: a name chosen by size could only guess. */
const ALL_EIGHT = { N: 8, In: 8, Out: 8, r: 8, E: 8 };

describe('explain names indices by the program’s dimensions, not by their sizes', () => {
  it('names the expert sum Σ over E and the operands’ axes as declared, when every size is equal', () => {
    const e = explain(lily, 'Lily', ALL_EIGHT);
    const fwd = e.rewrites.find((r) => r.program === 'forward' && r.folds.some((f) => f.applied))!;
    expect(fwd.net).toBe('Σ B[E, r, Out] · h[N, r] · p[E] → [N, Out]');
    const fold = fwd.folds.find((f) => f.applied)!;
    expect(fold.index).toBe('E');
    expect(fold.bank).toBe('B[E, r, Out]');
    expect(fold.reason).toMatch(/^Σ over E is taken on the weights first/);
    // The cotangent dy is named after the output it stands for.
    expect(e.rewrites.some((r) => r.program === 'backward' && r.net.includes('dy[N, Out]'))).toBe(true);
  });

  it('says which axis varies per token in a refusal (LilyToken), with r = E and In = Out', () => {
    const e = explain(lily, 'LilyToken', { N: 64, In: 32, Out: 32, r: 4, E: 4 });
    const refused = e.rewrites.flatMap((r) => r.folds).find((f) => !f.applied)!;
    expect(refused.index).toBe('E');
    expect(refused.reason).toMatch(/varies per token \(axis N\): Σ over E of the weights/);
  });

  it('uses the declared names in a model too (a layer’s In and Out, the input’s N)', () => {
    const src = `model M(D: Dim = 4) {
  layer l1: Linear[D, 2 * D]
  layer l2: Linear[2 * D, D]
  forward(x: [N, D]) -> [N, D] = l2(l1(x))
}`;
    const checked = checkSource(src, 'm.lily');
    const p = compile(checked, 'M', { settings: { N: 8, D: 4 }, forwardOnly: true, until: 'simplify' });
    const y = p.graph.outputs.get('y')!;
    expect(axisNames(p.graph, y, p.leafAxes)).toEqual(['N', 'D']);
    const x = p.graph.nodes.find((n) => n.op === 'input' && n.attrs.name === 'x')!;
    expect(axisNames(p.graph, x.id, p.leafAxes)).toEqual(['N', 'D']);
    const W1 = p.graph.nodes.find((n) => n.op === 'param' && n.attrs.name === 'l1.W')!;
    expect(axisNames(p.graph, W1.id, p.leafAxes)).toEqual(['D', '2*D']);
  });
});

describe('axes no declaration reaches', () => {
  it('a hoisted value keeps the names of the value it replaces (DoRA’s column norm of W0 + A B)', () => {
    const dora = checkSource(readFileSync(new URL('../../stdlib/adapters/dora.lily', import.meta.url), 'utf8'), 'dora.lily');
    const p = compile(dora, 'DoRA', { settings: { N: 4, In: 6, Out: 6, r: 2 }, params: 'shapes' });
    expect(p.hoisted!.length).toBeGreaterThan(0);
    for (const h of p.hoisted!) expect(p.leafAxes.get(h.name)!.every((n) => n === 'In' || n === 'Out')).toBe(true);
  });

  it('are named by size only where one dimension has that size, else by the size itself', () => {
    const c3a = checkSource(readFileSync(new URL('../../stdlib/adapters/c3a.lily', import.meta.url), 'utf8'), 'c3a.lily');
    // C3A's DFT matrices are built from range[b]: no declared shape names their axes.
    const named = explain(c3a, 'C3A', { N: 8, In: 16, Out: 16, b: 4 });
    expect(named.rewrites.some((r) => r.net.includes('[b, b]'))).toBe(true);
    const ambiguous = explain(c3a, 'C3A', { N: 4, In: 16, Out: 16, b: 4 });
    expect(ambiguous.rewrites.some((r) => r.net.includes('[4, 4]'))).toBe(true);
    expect(ambiguous.rewrites.some((r) => /\|/.test(r.net))).toBe(false);
  });
});
