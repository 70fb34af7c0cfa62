// Issue 13: the contract stage judged whole programs by total FLOPs, so one costly region (the MLP's
// backward under aggressive inlining) vetoed the good ones (Lily's expert fold). At the whole-model
// benchmark's sizes (one block, Bt = 32) nothing was reordered. The choice must be per region.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkSource } from '../frontend.ts';
import { compile, flopsSplit } from '../pipeline.ts';
import { DEFAULT_ADAMW } from '../objective.ts';
import { mergeSumsOfProducts } from './merge.ts';
import { contractOrders } from './contract.ts';
import { rebuild } from './engine.ts';
import { SIMPLIFY_RULES } from './rules-simplify.ts';

const file = new URL('../../bench/model/vit-small.lily', import.meta.url).pathname;
const checked = checkSource(readFileSync(file, 'utf8'), file);
const opts = { settings: { Bt: 32, T: 65, L: 1 }, seed: 0, params: 'shapes' as const, objective: { loss: 'mse' as const, optimizer: DEFAULT_ADAMW } };
const total = (g: Parameters<typeof flopsSplit>[0]) => {
  const f = flopsSplit(g);
  return f.forward + f.backward;
};

describe('contract stage: chosen per sum of products (whole-model block, Bt = 32)', () => {
  it('folds the Lily expert sum in forward and backward, and is no worse than any whole-program candidate', () => {
    const before = compile(checked, 'ViTLily', { ...opts, until: 'simplify-2' });
    const candidates = [total(before.graph)];
    for (const policy of ['aggressive', 'conservative'] as const) {
      const m = mergeSumsOfProducts(before.graph, policy);
      candidates.push(total(rebuild(contractOrders(m.graph, m.facts).graph, SIMPLIFY_RULES).graph));
    }
    const p = compile(checked, 'ViTLily', opts);
    const folds = p.log.filter((l) => l.rule === 'contraction-order' && l.applied && (l.folds as unknown[] | undefined)?.length);
    expect(folds.filter((l) => l.forward).length).toBe(2); // q and v
    expect(folds.filter((l) => !l.forward).length).toBeGreaterThanOrEqual(2);
    expect(total(p.graph)).toBeLessThanOrEqual(Math.min(...candidates));
  });
});
