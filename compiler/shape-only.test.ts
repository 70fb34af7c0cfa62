// Shape-only lowering (FLOP counts, kernel plans, memory estimates) allocates nothing in proportion
// to the weights: no `from` initialiser runs and no frozen value is hoisted with values. The fuzzer
// found both: an SVD of a 10⁹-row weight inside the memory estimate (exit 3), and `compile
// --explain` at 16384² hoisting DoRA's ‖W0‖ for real (2.2 GB resident).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { estimateBytes } from './budget.ts';
import { explain } from './explain.ts';
import { checkSource } from './frontend.ts';
import { compile } from './pipeline.ts';
import { lily } from './cli/run-in-process.ts';

const stdlib = (name: string) => checkSource(readFileSync(new URL(`../stdlib/adapters/${name}.lily`, import.meta.url), 'utf8'), `stdlib/adapters/${name}.lily`);

describe('shape-only lowering', () => {
  it('estimates memory of an SVD initialiser without computing the SVD', () => {
    const loraxs = stdlib('loraxs');
    // base.W alone is 10⁹ × 8 float64s; the estimate counts it, and computing it would throw.
    expect(estimateBytes(loraxs, 'LoRAXS', { N: 4, In: 1e9, Out: 8 })).toBeGreaterThan(8e9 * 8);
  });

  it('refuses `run` of such an adapter with E-memory (exit 1), not an internal error', async () => {
    const r = await lily('run', 'stdlib/adapters/loraxs.lily', '--fn', 'LoRAXS', '--dims', 'N=4,In=1e9,Out=8', '--max-memory', '1GB');
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(/E-memory.*running LoRAXS needs about/);
  });

  it('hoists frozen values as shapes, without values, when the leaves have none', () => {
    const dora = stdlib('dora');
    const p = compile(dora, 'DoRA', { settings: { N: 2, In: 64, Out: 48, r: 4 }, params: 'shapes' });
    expect(p.hoisted?.length).toBeGreaterThan(0);
    for (const h of p.hoisted!) {
      expect(p.leaves.get(h.name)!.shape).toEqual(h.shape);
      expect(p.leaves.get(h.name)!.data.length).toBe(0);
    }
    // With values, the same stage computes them.
    const real = compile(dora, 'DoRA', { settings: { N: 2, In: 64, Out: 48, r: 4 } });
    expect(real.leaves.get(real.hoisted![0].name)!.data.length).toBeGreaterThan(0);
  });

  it('explain at large sizes decides mergeability at sizes the `where` conditions accept (PiSSA, r = 8 > 6)', () => {
    const e = explain(stdlib('pissa'), 'PiSSA', { N: 16, In: 16384, Out: 16384 });
    expect(e.mergeable).toBe(true);
  });
});
