// Probe for issue 13 (not a benchmark): total FLOPs of the contract stage's whole-program candidates on the
// whole-model program, and of a prototype per-region greedy search (components of the aggressive
// inlining plan, each toggled and kept when total FLOPs fall). Usage: npx tsx bench/contract-probe.ts [Bt] [L]
import { readFileSync } from 'node:fs';
import { DEFAULT_ADAMW } from '../compiler/objective.ts';
import { checkSource } from '../compiler/frontend-source.ts';
import { compile, flopsSplit } from '../compiler/pipeline.ts';
const f = 'bench/model/vit-small.lily';
const checked = checkSource(readFileSync(f, 'utf8'), f);
const Bt = Number(process.argv[2] ?? 32), L = Number(process.argv[3] ?? 1);
const opts = { settings: { Bt, T: 65, L }, seed: 0, params: 'shapes' as const, objective: { loss: 'mse' as const, optimizer: DEFAULT_ADAMW } };
for (const skip of [['contract'], []]) {
  const t0 = performance.now();
  const p = compile(checked, 'ViTLily', { ...opts, skip });
  const fl = flopsSplit(p.graph);
  console.log(skip.join() || 'optimised', ((fl.forward + fl.backward) / 1e6).toFixed(1), 'MFLOP', (performance.now() - t0).toFixed(0), 'ms');
  for (const l of p.log as any[]) if (l.rule === 'contraction-order' && (l.folds?.length || l.applied)) console.log(' ', l.forward ? 'F' : 'B', l.flopsBefore, l.flopsAfter, l.applied, l.folds?.length ?? 0, l.order);
}
import { mergeSumsOfProducts } from '../compiler/rewrite/merge.ts';
import { contractOrders } from '../compiler/rewrite/contract.ts';
import { rebuild } from '../compiler/rewrite/engine.ts';
import { SIMPLIFY_RULES } from '../compiler/rewrite/rules-simplify.ts';
const p = compile(checked, 'ViTLily', { ...opts, until: 'simplify-2' });
for (const policy of ['aggressive', 'conservative'] as const) {
  const merged = mergeSumsOfProducts(p.graph, policy);
  const c = contractOrders(merged.graph, merged.facts);
  const g = rebuild(c.graph, SIMPLIFY_RULES).graph;
  const fl = flopsSplit(g);
  console.log(policy, ((fl.forward + fl.backward) / 1e6).toFixed(1));
  for (const l of c.log as any[]) if (l.rule === 'contraction-order') console.log(' ', l.flopsBefore/1e6, l.flopsAfter/1e6, l.applied, l.folds?.length ?? 0, l.order.slice(0, 100));
}
import { planInlining } from '../compiler/rewrite/merge.ts';
{
  const a = planInlining(p.graph, 'aggressive'), c = planInlining(p.graph, 'conservative');
  const parent = new Map<number, number>();
  const find = (x: number): number => { while (parent.has(x) && parent.get(x) !== x) x = parent.get(x)!; return x; };
  for (const k of a) { const [x, y] = k.split(':').map(Number); const rx = find(x), ry = find(y); if (rx !== ry) parent.set(rx, ry); parent.set(ry, ry); }
  const comps = new Map<number, number>(); for (const k of a) { const r = find(Number(k.split(':')[0])); comps.set(r, (comps.get(r) ?? 0) + 1); }
  console.log('edges', a.size, c.size, 'components', comps.size);
  const t0 = performance.now();
  const merged = mergeSumsOfProducts(p.graph, 'aggressive'); const cc = contractOrders(merged.graph, merged.facts); rebuild(cc.graph, SIMPLIFY_RULES);
  console.log('one eval ms', performance.now() - t0);
}
{
  const t0 = performance.now();
  const a = planInlining(p.graph, 'aggressive'), c = planInlining(p.graph, 'conservative');
  const parent = new Map<number, number>();
  const find = (x: number): number => { while (parent.has(x) && parent.get(x) !== x) x = parent.get(x)!; return x; };
  for (const k of a) { const [x, y] = k.split(':').map(Number); parent.set(x, parent.get(x) ?? x); parent.set(y, parent.get(y) ?? y); const rx = find(x), ry = find(y); if (rx !== ry) parent.set(rx, ry); }
  const comps = new Map<number, string[]>(); for (const k of a) { const r = find(Number(k.split(':')[0])); comps.set(r, [...(comps.get(r) ?? []), k]); }
  const evalE = (edges: Set<string>) => { const m = mergeSumsOfProducts(p.graph, edges); const y = m.graph.outputs.get('y'); for (const id of m.graph.live([y!])) m.facts.set(id, { ...m.facts.get(id), forward: true }); const cc = contractOrders(m.graph, m.facts); const g = rebuild(cc.graph, SIMPLIFY_RULES).graph; const f = flopsSplit(g); return { f: f.forward + f.backward, log: cc.log }; };
  let cur = new Set(c); let best = evalE(cur).f; let evals = 1;
  for (const [, K] of comps) {
    for (const variant of [new Set([...cur, ...K]), new Set([...cur].filter((e) => !K.includes(e))), new Set([...[...cur].filter((e) => !K.includes(e)), ...K.filter((e) => c.has(e))])]) {
      const t = evalE(variant).f; evals++;
      if (t < best) { best = t; cur = variant; }
    }
  }
  const r = evalE(cur);
  console.log('greedy per region', (best / 1e6).toFixed(1), 'MFLOP', evals, 'evals', (performance.now() - t0).toFixed(0), 'ms; folds fwd', r.log.filter((l: any) => l.forward && l.folds?.length && l.applied).length, 'bwd', r.log.filter((l: any) => !l.forward && l.applied && /Lily.B/.test(l.order) && l.flopsAfter < l.flopsBefore / 2).length);
}
