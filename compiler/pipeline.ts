// The compiler's middle, as a named list of stages. Every stage maps a Program (a graph with its
// leaves and what is known about it) to a new one and can be dumped (`lily compile
// --dump-after=STAGE`). Simplification and the contraction optimiser run again after autodiff,
// on forward and backward together (as Futhark re-simplifies after AD).
import type { CheckedProgram } from './check/check.ts';
import { vjp } from './autodiff/vjp.ts';
import { fail } from './diagnostics.ts';
import type { Graph, Id } from './ir/graph.ts';
import { lower, type Lowered } from './ir/lower.ts';
import { axisNames } from './ir/axis-names.ts';
import { shapeOnly } from './interp/instance.ts';
import { primitive } from './ir/prim.ts';
import { verifyGraph } from './ir/verify.ts';
import { contractOrders, settleLog, type Tree } from './rewrite/contract.ts';
import { chooseLayouts } from './rewrite/layout.ts';
import { graphFlops, rebuild, settled, type RewriteLog, type Rule } from './rewrite/engine.ts';
import { FAULTS } from './rewrite/faults.ts';
import { attachObjective, type Objective, type ObjectiveResult } from './objective.ts';
import { inliningPlans, mergeSumsOfProducts, type InlinePolicy } from './rewrite/merge.ts';
import { planPerRegion } from './rewrite/regions.ts';
import { SIMPLIFY_RULES } from './rewrite/rules-simplify.ts';
import { hoistFrozen, type Hoisted } from './rewrite/hoist.ts';
import type { ModuleRecord, TargetAttachment } from './interp/targets.ts';
import { rng } from '../runtime/init/rng.ts';
import { timed, type Timings } from './timings.ts';
import { tensor, type Tensor } from '../runtime/tensor/index.ts';

export interface Program extends Lowered {
  /** Training: the loss and optimiser (set by compileTraining); absent for a plain VJP program. */
  objective?: Objective;
  form?: 'delta' | 'forward';
  train?: ObjectiveResult;
  /** Extra (faulty) rules per stage, for testing the verifier. */
  extraRules?: { simplify: Rule[]; contract: Rule[] };
  /** Names dimension sizes for messages (the user's --dims, where a size is unique). */
  dimLabel?: (size: number) => string | undefined;
  log: RewriteLog[];
  /** The last stage run. */
  stage: string;
  /** Values computed once at load by the hoist stage (now frozen leaves). */
  hoisted?: Hoisted[];
  /** Leaves carry shapes only (no values): the program can be planned and counted, not run. */
  shapesOnly?: boolean;
  /** Differentiate with respect to every input of the entry, not only x (see CompileOptions). */
  gradInputs?: boolean;
  /** Where compile time goes, when asked (CompileOptions.timings). */
  timings?: Timings;
}

export interface Stage {
  name: string;
  doc: string;
  run(p: Program): Program;
}

const withGraph = (p: Program, graph: Graph, stage: string, log: RewriteLog[] = []): Program => ({ ...p, graph, stage, log: [...p.log, ...log] });

export const STAGES: Stage[] = [
  { name: 'lower', doc: 'the checked program at concrete sizes, as an IR graph (output y)', run: (p) => p },
  {
    name: 'verify',
    doc: 'check every node: known primitive, consistent shapes, inputs defined before use',
    run: (p) => {
      verifyGraph(p.graph);
      return { ...p, stage: 'verify' };
    },
  },
  { name: 'simplify', doc: 'algebraic simplification, constant folding, CSE, DCE', run: (p) => withGraph(p, rebuild(p.graph, [...(p.extraRules?.simplify ?? []), ...SIMPLIFY_RULES]).graph, 'simplify') },
  {
    name: 'hoist',
    doc: 'values that depend only on frozen parameters (‖W0‖, an SVD of W0, W0 − A0 B0) computed once, at load, and kept as frozen buffers',
    run(p) {
      const h = hoistFrozen(p.graph, p.leaves, p.shapesOnly);
      if (!h.hoisted.length) return { ...p, stage: 'hoist' };
      // A hoisted value keeps the dimension names of the value it replaces.
      const leafAxes = new Map(p.leafAxes);
      for (const v of h.hoisted) leafAxes.set(v.name, axisNames(p.graph, v.source, p.leafAxes));
      return { ...withGraph(p, rebuild(h.graph, SIMPLIFY_RULES).graph, 'hoist'), leaves: h.leaves, leafAxes, hoisted: [...(p.hoisted ?? []), ...h.hoisted] };
    },
  },
  {
    name: 'autodiff',
    doc: 'reverse mode: gradients of ⟨y, dy⟩ w.r.t. every trainable parameter and the input x; or, for training, of the loss, with the optimiser update',
    run(p) {
      const g = p.graph;
      if (p.objective) {
        const r = attachObjective(g, p.leaves, p.form ?? 'delta', p.objective, p.lrScale);
        return { ...p, leaves: r.leaves, stage: 'autodiff', inputs: r.inputs, train: r };
      }
      const y = g.outputs.get('y')!;
      const dyValue = p.shapesOnly ? shapeOnly(g.shape(y)) : tensor(g.shape(y), randomNormal(g.shape(y), 7));
      const leaves = new Map(p.leaves).set('dy', dyValue);
      const dy = g.add('input', [], { name: 'dy', shape: g.shape(y) });
      const targets = g.live([y]).filter((id) => {
        const n = g.node(id);
        return (n.op === 'param' && n.attrs.trainable) || (n.op === 'input' && (n.attrs.name === 'x' || (p.gradInputs && p.inputs.includes(n.attrs.name as string))));
      });
      const grads = vjp(g, y, dy, targets);
      for (const [leaf, grad] of grads) g.outputs.set(`grad:${g.node(leaf).attrs.name}`, grad);
      const leafAxes = new Map(p.leafAxes).set('dy', axisNames(g, y, p.leafAxes));
      return { ...p, leaves, leafAxes, stage: 'autodiff', inputs: [...p.inputs, 'dy'] };
    },
  },
  { name: 'simplify-2', doc: 'simplification again, over forward and backward', run: (p) => withGraph(p, rebuild(p.graph, [...(p.extraRules?.simplify ?? []), ...SIMPLIFY_RULES]).graph, 'simplify-2') },
  {
    name: 'contract',
    doc: 'form each maximal sum of products (einsum) and choose its contraction order by cost',
    run(p) {
      // Each inlining plan yields a program; keep the cheapest, never worse than as written. The
      // plan chosen region by region (rewrite/regions.ts) is what lets one region's gain stand
      // when another region's would be a loss; the whole-program plans stay as candidates, because
      // a region costed alone is not what it costs in the program: the same contraction in two
      // regions is computed once (CSE across nets: LilyToken's and LoKr's VJPs), and equal-cost
      // orders are told apart by node ids, which differ in a region's own graph, so the sharing
      // they allow differs too (LoRA's VJP: the scale goes on A there, on B in the program, where
      // B·s serves three nets). A plan equal to one already costed is not costed again, and
      // contraction orders are found once per distinct net.
      const orders = new Map<string, Tree>();
      const whole = inliningPlans(p.graph);
      const perRegion = timed(p.timings, 'contract/per-region plan', () => planPerRegion(p.graph, orders, undefined, whole));
      const plans: { name: string; edges: Set<string> }[] = [];
      for (const [name, edges] of [['per-region', perRegion], ['aggressive', whole.aggressive], ['conservative', whole.conservative]] as const)
        if (!plans.some((q) => sameSet(q.edges, edges))) plans.push({ name, edges });
      // A plan's FLOPs are read before simplifying where simplifying would change nothing (settled):
      // only the plan kept is simplified. Only the per-region plan (almost always the one kept) logs
      // its orders as it goes; another plan kept is contracted again to log them (the same program).
      const costed = (edges: Set<string>, explain: 'deferred' | false) => {
        const { graph, log } = contractWith(p, edges, orders, explain, false);
        const simplified = !settled(graph, SIMPLIFY_RULES);
        const kept = simplified ? rebuild(graph, SIMPLIFY_RULES).graph : graph;
        return { graph: kept, simplified, log, flops: graphFlops(kept), edges };
      };
      let best: ReturnType<typeof costed> | undefined;
      let bestFlops = graphFlops(p.graph); // (FLOPs are integers: summed in any order, the same number)
      for (const plan of plans) {
        const next = timed(p.timings, `contract/${plan.name}`, () => costed(plan.edges, plan.edges === perRegion ? 'deferred' : false));
        if (next.flops < bestFlops) (best = next), (bestFlops = next.flops);
      }
      if (!best) return withGraph(p, p.graph, 'contract');
      if (best.edges !== perRegion) best = costed(best.edges, 'deferred');
      const graph = best.simplified ? best.graph : rebuild(best.graph, SIMPLIFY_RULES).graph;
      return withGraph(p, graph, 'contract', settleLog(best.log));
    },
  },
  {
    name: 'layout',
    doc: "lay out each intermediate contraction in the order its elementwise consumer reads it (a GEMM writes C or Cᵀ at the same cost)",
    run(p) {
      const laid = chooseLayouts(p.graph);
      return laid.log.length ? withGraph(p, rebuild(laid.graph, []).graph, 'layout', laid.log) : { ...p, stage: 'layout' };
    },
  },
];

export const STAGE_NAMES = STAGES.map((s) => s.name);

/**
 * The program merged along an inlining plan (a policy or a set of edges), every sum of products
 * ordered, and simplified; with the contraction log (for --explain).
 */
export function contractWith(p: Program, plan: InlinePolicy | Set<string>, orders?: Map<string, Tree>, explain: boolean | 'deferred' = true, simplify = true): { graph: Graph; log: RewriteLog[] } {
  const merged = mergeSumsOfProducts(p.graph, plan);
  // merged.facts carries each sum of products' FLOPs as written (naive) into the optimiser, and
  // whether it is part of the forward program: what the log says (nothing else reads them).
  if (explain) {
    const y = merged.graph.outputs.get('y');
    for (const id of y === undefined ? [] : merged.graph.live([y])) merged.facts.set(id, { ...merged.facts.get(id), forward: true });
  }
  const contracted = contractOrders(merged.graph, explain ? merged.facts : undefined, { dimLabel: p.dimLabel, leafAxes: p.leafAxes }, p.extraRules?.contract, { explain, orders });
  return { graph: simplify ? rebuild(contracted.graph, SIMPLIFY_RULES).graph : contracted.graph, log: contracted.log };
}

export interface CompileOptions {
  settings: Record<string, number | boolean>;
  seed?: number;
  /** Stop after this stage (inclusive). */
  until?: string;
  /** Skip these stages (e.g. 'contract' for the naive program). */
  skip?: string[];
  /** The forward program only: no autodiff, but still simplified and contracted (the fold applies);
   *  `until: 'hoist'` stops before the optimising stages. */
  forwardOnly?: boolean;
  /** Deliberately wrong rules to inject (compiler/rewrite/faults.ts), for testing the verifier. */
  faults?: string[];
  /** Compile a training step (loss + optimiser) instead of a VJP. */
  objective?: Objective;
  /** Parameter values: each initialiser ('init', default for training) or N(0, 0.25) ('random', default otherwise). */
  params?: 'init' | 'random' | 'shapes';
  /** Parameter values supplied by path (a checkpoint), overriding the above. */
  given?: Map<string, Tensor>;
  /** Gradients with respect to every tensor argument of the entry, not only x (verify checks a function's in all of them). */
  gradInputs?: boolean;
  /** Compile for training (`training` is true, dropout draws) or evaluation (default). */
  training?: boolean;
  /** The value of `step` and of the random draws baked into the leaves (default 0; training feeds it each step). */
  step?: number;
  /** Input values by name (else drawn N(0, 1) from the seed); their shapes bind the input dims. */
  inputs?: Map<string, Tensor>;
  /** An adapter attached to the model's matching Linear layers (PEFT's target_modules). */
  attach?: TargetAttachment;
  /** Filled in while lowering: base weights by PyTorch name, adapted layers and their leaves. */
  record?: ModuleRecord;
  /** Base layers that train anyway (PEFT's modules_to_save). */
  trainable?: string[];
  /** Record each stage's wall time here (`lily compile --timings`). */
  timings?: Timings;
}

/**
 * Run the named stages (STAGE_NAMES) on an entry point at concrete sizes: lowering to IR, autodiff,
 * simplification and the contraction-order optimiser. `until` stops after a stage.
 * @throws {LilyError} for unknown stages or sizes that do not fit the program
 */
export function compile(checked: CheckedProgram, entry: string, opts: CompileOptions): Program {
  if (opts.until && !STAGE_NAMES.includes(opts.until)) fail('E-usage', `unknown stage '${opts.until}'`, undefined, { expected: STAGE_NAMES.join(', ') });
  const bySize = new Map<number, string[]>();
  for (const [k, v] of Object.entries(opts.settings)) if (typeof v === 'number') bySize.set(v, [...(bySize.get(v) ?? []), k]);
  // For an axis no declaration names (after a reshape): the one dimension of that size, else the size.
  const dimLabel = (size: number) => (bySize.get(size)?.length === 1 ? bySize.get(size)![0] : String(size));
  const extraRules = { simplify: [] as Rule[], contract: [] as Rule[] };
  for (const f of opts.faults ?? []) {
    const fault = FAULTS[f] ?? fail('E-usage', `unknown fault '${f}'`, undefined, { expected: Object.keys(FAULTS).join(', ') });
    extraRules[fault.stage].push(fault.rule);
  }
  const unit = checked.units.get(entry);
  const form = unit?.methods.has('delta') ? 'delta' : 'forward';
  const params = opts.params ?? (opts.objective ? 'init' : 'random');
  const lowered = timed(opts.timings, 'lower', () =>
    lower(checked, entry, { settings: opts.settings, seed: opts.seed, params, given: opts.given, attach: opts.attach, record: opts.record, inputs: opts.inputs, trainable: opts.trainable, mode: { training: opts.training ?? opts.objective !== undefined, step: opts.step ?? 0 }, timings: opts.timings }),
  );
  let p: Program = { ...lowered, log: [], stage: 'lower', dimLabel, extraRules, objective: opts.objective, form, shapesOnly: params === 'shapes', gradInputs: opts.gradInputs, timings: opts.timings };
  for (const s of STAGES) {
    if (!opts.skip?.includes(s.name) && !(opts.forwardOnly && s.name === 'autodiff')) p = s.name === 'lower' ? p : timed(opts.timings, s.name, () => s.run(p));
    if (s.name === opts.until) break;
  }
  return p;
}

/** FLOPs of the forward (nodes needed for y) and of the rest (the backward program). */
export function flopsSplit(g: Graph): { forward: number; backward: number } {
  const y = g.outputs.get('y');
  const fwd = new Set(y === undefined ? [] : g.live([y]));
  let forward = 0;
  let backward = 0;
  for (const id of g.live()) {
    const f = primitive(g.node(id).op).flops(g.node(id), g);
    if (fwd.has(id)) forward += f;
    else backward += f;
  }
  return { forward, backward };
}

function randomNormal(shape: number[], seed: number) {
  const r = rng(seed).fork('dy');
  return Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal());
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));

