// Issue 13: the contract stage judged whole programs by total FLOPs, so one costly region (the MLP's
// backward under aggressive inlining) vetoed the good ones (Lily's expert fold). At the whole-model
// benchmark's sizes (one block, Bt = 32) nothing was reordered. The choice must be per region.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkSource } from '../frontend.ts';
import { compile, contractWith, flopsSplit } from '../pipeline.ts';
import { DEFAULT_ADAMW } from '../objective.ts';
import { mergeSumsOfProducts } from './merge.ts';
import { contractOrders } from './contract.ts';
import { rebuild } from './engine.ts';
import { SIMPLIFY_RULES } from './rules-simplify.ts';
import { checkOnce } from '../verify.ts';
import { planPerRegion, regionsOf } from './regions.ts';
import { printGraph } from '../ir/print.ts';

const file = new URL('../../bench/model/vit-small.lily', import.meta.url).pathname;
const checked = checkSource(readFileSync(file, 'utf8'), file);
const opts = { settings: { Bt: 32, T: 65, L: 1 }, seed: 0, params: 'shapes' as const, objective: { loss: 'mse' as const, optimizer: DEFAULT_ADAMW } };
const total = (g: Parameters<typeof flopsSplit>[0]) => {
  const f = flopsSplit(g);
  return f.forward + f.backward;
};

/** Total FLOPs of the program as written and under each whole-program inlining policy. */
function wholeProgramCandidates(settings: Record<string, number>, extra: object) {
  const before = compile(checked, 'ViTLily', { settings, seed: 0, params: 'shapes', until: 'simplify-2', ...extra });
  const out = [total(before.graph)];
  for (const policy of ['aggressive', 'conservative'] as const) {
    const m = mergeSumsOfProducts(before.graph, policy);
    out.push(total(rebuild(contractOrders(m.graph, m.facts).graph, SIMPLIFY_RULES).graph));
  }
  return out;
}

describe('contract stage: chosen per sum of products (whole-model block, Bt = 32)', () => {
  it('folds the Lily expert sum in forward and backward, and is no worse than any whole-program candidate', () => {
    const candidates = wholeProgramCandidates(opts.settings, { objective: opts.objective });
    const p = compile(checked, 'ViTLily', opts);
    const folds = p.log.filter((l) => l.rule === 'contraction-order' && l.applied && (l.folds as unknown[] | undefined)?.length);
    expect(folds.filter((l) => l.forward).length).toBe(2); // q and v
    expect(folds.filter((l) => !l.forward).length).toBeGreaterThanOrEqual(2);
    expect(total(p.graph)).toBeLessThanOrEqual(Math.min(...candidates));
  });
});

describe('contract stage: the per-region program computes what the program as written does', () => {
  // A small encoder block where the per-region plan beats every whole-program one (so it is the
  // program checked): optimised = naive = interpreter in float64, gradients = finite differences.
  const small = { Bt: 4, T: 9, D: 24, heads: 2, F: 48, L: 1 };
  it('is strictly cheaper than every whole-program candidate at these sizes', () => {
    const p = compile(checked, 'ViTLily', { settings: small, seed: 0, params: 'shapes', gradInputs: true });
    expect(total(p.graph)).toBeLessThan(Math.min(...wholeProgramCandidates(small, { gradInputs: true })));
  });
  it('optimised = naive = interpreter, autodiff = finite differences', () => {
    expect(() => checkOnce(checked, 'ViTLily', small, 3)).not.toThrow();
  });
});

describe('regionsOf', () => {
  it('joins edges that share a node, and only those', () => {
    const regions = regionsOf(new Set(['5:3', '7:3', '9:8', '8:6', '11:10']));
    expect(regions.map((r) => [...r].sort()).sort()).toEqual([['11:10'], ['5:3', '7:3'], ['8:6', '9:8']]);
  });
});

// Compile time (issue 13): the contract stage finds each distinct net's order once and costs each
// distinct region once; neither may change the program or its explanation.
describe('contract stage: remembered orders and regions change nothing', () => {
  const two = { Bt: 4, T: 9, D: 24, heads: 2, F: 48, L: 2 };
  const before = compile(checked, 'ViTLily', { settings: two, seed: 0, params: 'shapes', until: 'simplify-2', objective: opts.objective });
  it('the same graph and log with and without the order cache; repeated blocks share orders', () => {
    const orders = new Map();
    const plan = planPerRegion(before.graph, orders);
    const fresh = contractWith(before, plan);
    const cached = contractWith(before, plan, orders);
    expect(printGraph(cached.graph)).toBe(printGraph(fresh.graph));
    expect(JSON.stringify(cached.log)).toBe(JSON.stringify(fresh.log));
    const nets = fresh.log.filter((l) => l.rule === 'contraction-order').length;
    expect(orders.size).toBeLessThan(nets); // two blocks: the same nets twice
  });
  it('a region repeated in another block takes the choice costed for the first', () => {
    const stats = { regions: 0, costed: 0 };
    planPerRegion(before.graph, new Map(), stats);
    expect(stats.costed).toBeGreaterThan(0);
    expect(stats.costed).toBeLessThan(stats.regions);
  });
});

// Only the per-region plan logs its orders while the contract stage costs it; a whole-program plan
// that is kept is contracted again to log them. In LoRA's VJP (the paper's shape) the aggressive
// plan is kept: the scale folds into B once, and B·s is shared by y, grad:A and grad:x.
describe('contract stage: a whole-program plan kept is logged as the per-region plan would be', () => {
  const loraFile = new URL('../../stdlib/adapters/lora.lily', import.meta.url).pathname;
  const lora = checkSource(readFileSync(loraFile, 'utf8'), loraFile);
  const settings = { N: 1024, In: 768, Out: 768, r: 16 };
  it('keeps the aggressive plan for LoRA (VJP), with its full log', () => {
    const before = compile(lora, 'LoRA', { settings, params: 'shapes', until: 'simplify-2' });
    const aggressive = contractWith(before, 'aggressive');
    const perRegion = contractWith(before, planPerRegion(before.graph));
    expect(total(aggressive.graph)).toBeLessThan(total(perRegion.graph));
    const p = compile(lora, 'LoRA', { settings, params: 'shapes' });
    expect(total(p.graph)).toBe(total(aggressive.graph));
    const orders = (log: { rule: string }[]) => JSON.stringify(log.filter((l) => l.rule === 'contraction-order'));
    expect(orders(p.log)).toBe(orders(aggressive.log));
    expect(p.log.filter((l) => l.rule === 'contraction-order').length).toBeGreaterThan(0);
  });
});
