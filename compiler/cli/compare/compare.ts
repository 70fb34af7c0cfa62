// `lily compare`: every method on every task, at one parameter budget, with the same schedule and
// seeds — a learning rate chosen per method on a validation split (--lr-sweep), then one run per
// seed on all training images, scored on the test images — and what each method's ΔW looks like.
import { mergeVerdict } from '../../analysis/mergeable.ts';
import { matchTarget, parseTargets } from '../../interp/targets.ts';
import type { Backend } from '../../../runtime/executable.ts';
import { adapterDeltaW, effectiveRank, singularValues, weightDeltaW } from './delta-rank.ts';
import { prepareMethod, type CompareModel, type MethodSpec, type PreparedMethod } from './methods.ts';
import { loadTask, validationSplit } from './tasks.ts';
import { prepareRunner, type MethodRunner, type RunResult } from './train-run.ts';

export interface CompareOptions extends CompareModel {
  tasks: string[];
  methods: MethodSpec[];
  budget?: number;
  steps: number;
  batch: number;
  seeds: number;
  lrs: number[];
  /** Fraction of the training images held out to choose the learning rate. */
  valFraction: number;
  rankThreshold: number;
  backend: Backend;
  /** Progress lines (to stderr). */
  log(line: string): void;
}

export interface LayerRank {
  layer: string;
  rank: number;
  /** Of min(In, Out). */
  full: number;
}

export interface MethodResult {
  task: string;
  method: string;
  adapter?: string;
  chosen: Record<string, number | boolean>;
  /** The sizes the budget search chose among, with the defaults whose proportions it preferred. */
  searched: { name: string; default: number }[];
  trainable: number;
  withinBudget: boolean;
  sweep: { lr: number; valAccuracy: number }[];
  lr: number;
  runs: { seed: number; accuracy: number; msPerStep: number; losses: number[] }[];
  accuracy: { mean: number; std: number };
  msPerStep: number;
  /** ΔW of each adapted (or, for full fine-tuning, each targeted) layer, after the first seed's run. */
  ranks: LayerRank[];
  mergeable: { mergeable: boolean; reason: string };
}

export interface CompareResult {
  model: string;
  file: string;
  base?: string;
  targets: string;
  head: string;
  budget?: number;
  schedule: { steps: number; batch: number; seeds: number; lrSweep: number[]; optimizer: string; valFraction: number };
  rankThreshold: number;
  backend: string;
  results: MethodResult[];
  seconds: number;
}

const meanStd = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function ranksOf(p: PreparedMethod, run: RunResult, o: CompareOptions): LayerRank[] {
  if (p.spec.trains === 'head') return [];
  if (p.spec.trains === 'all') {
    // Full fine-tuning: the same layers the adapters target, W − W0.
    const targets = parseTargets(o.targets);
    return run.record.weights
      .filter((w) => w.transpose && matchTarget(targets, w.leaf.replace(/\.W$/, '')) !== undefined)
      .map((w) => {
        const [In, Out] = run.initial.get(w.leaf)!.shape;
        return { layer: w.leaf.replace(/\.W$/, ''), rank: effectiveRank(singularValues(weightDeltaW(w.leaf, run.params, run.initial), In, Out), o.rankThreshold), full: Math.min(In, Out) };
      });
  }
  return run.record.adapted.map((l) => ({
    layer: l.layer,
    rank: effectiveRank(singularValues(adapterDeltaW(p.setup.checked, l, run.params, run.initial), l.In, l.Out), o.rankThreshold),
    full: Math.min(l.In, l.Out),
  }));
}

function mergeableOf(p: PreparedMethod, run: RunResult): MethodResult['mergeable'] {
  if (p.spec.trains !== 'adapters') return { mergeable: true, reason: p.spec.trains === 'all' ? 'the weights themselves are trained' : 'only the head is trained' };
  const l = run.record.adapted[0];
  const v = mergeVerdict(p.setup.checked, l.adapter, { ...l.settings, In: Math.min(l.In, 8), Out: Math.min(l.Out, 8) });
  return { mergeable: v.mergeable, reason: v.reason };
}

export async function runCompare(o: CompareOptions): Promise<CompareResult> {
  const start = performance.now();
  const results: MethodResult[] = [];
  // Each method is sized and compiled once, for every task, learning rate and seed: runs differ only in values.
  const prepared = new Map<MethodSpec, { p: PreparedMethod; runner: MethodRunner }>();
  const methodOf = async (spec: MethodSpec) => {
    let m = prepared.get(spec);
    if (!m) {
      const p = prepareMethod(spec, o, o.budget);
      prepared.set(spec, (m = { p, runner: await prepareRunner(p, o.batch, o.backend) }));
    }
    return m;
  };
  try {
  for (const taskName of o.tasks) {
    const task = loadTask(taskName);
    const split = validationSplit(task.train, o.valFraction, 0);
    for (const spec of o.methods) {
      const { p, runner } = await methodOf(spec);
      const sizes = Object.entries(p.chosen).map(([k, v]) => `${k}=${v}`).join(', ');
      const k = p.searched;
      const searched = k.length > 1 ? `; searched ${k.map((x) => x.name).join(', ')} near the defaults' proportions ${k.map((x) => `${x.name}=${x.default}`).join(', ')}` : k.length ? `; ${k[0].name} sized to the budget (default ${k[0].default})` : '';
      o.log(`${task.name} · ${spec.name}: ${p.trainableParams.toLocaleString('en-US')} trainable parameters${sizes ? ` (${sizes}${searched})` : ''}${p.withinBudget ? '' : ` — not within 5% of the budget ${o.budget}`}`);
      const schedule = (lr: number, seed: number) => ({ steps: o.steps, batch: o.batch, lr, seed, backend: o.backend });
      const sweep: MethodResult['sweep'] = [];
      if (o.lrs.length > 1)
        for (const lr of o.lrs) {
          const r = await runner.run(split.train, split.val, schedule(lr, 0));
          sweep.push({ lr, valAccuracy: r.accuracy });
          o.log(`  lr ${lr}: validation accuracy ${(100 * r.accuracy).toFixed(1)}%`);
        }
      const lr = sweep.length ? sweep.reduce((a, b) => (b.valAccuracy > a.valAccuracy ? b : a)).lr : o.lrs[0];
      const runs: MethodResult['runs'] = [];
      let first: RunResult | undefined;
      for (let seed = 0; seed < o.seeds; seed++) {
        const r = await runner.run(task.train, task.test, schedule(lr, seed));
        first ??= r;
        runs.push({ seed, accuracy: r.accuracy, msPerStep: r.msPerStep, losses: r.losses });
        o.log(`  lr ${lr}, seed ${seed}: test accuracy ${(100 * r.accuracy).toFixed(1)}%, ${r.msPerStep.toFixed(0)} ms/step`);
      }
      results.push({
        task: task.name,
        method: spec.name,
        adapter: spec.adapter,
        chosen: p.chosen,
        searched: p.searched,
        trainable: p.trainableParams,
        withinBudget: p.withinBudget,
        sweep,
        lr,
        runs,
        accuracy: meanStd(runs.map((r) => r.accuracy)),
        msPerStep: median(runs.map((r) => r.msPerStep)),
        ranks: ranksOf(p, first!, o),
        mergeable: mergeableOf(p, first!),
      });
    }
  }
  } finally {
    for (const { runner } of prepared.values()) runner.dispose();
  }
  return {
    model: o.model,
    file: o.file,
    base: o.base,
    targets: o.targets,
    head: o.head,
    budget: o.budget,
    schedule: { steps: o.steps, batch: o.batch, seeds: o.seeds, lrSweep: o.lrs, optimizer: 'AdamW (constant rate, no weight decay)', valFraction: o.valFraction },
    rankThreshold: o.rankThreshold,
    backend: o.backend.name,
    results,
    seconds: (performance.now() - start) / 1000,
  };
}
