// Can an adapter be merged into its frozen layer? Exactly when its output is affine in x and acts
// on each token alone: then y = x ΔW + Δb with ΔW = f(I) − f(0) and Δb = f(0). Decided by a
// structural linearity analysis over the IR (each primitive says which inputs it is linear in),
// then confirmed numerically against the reference interpreter.
import { guardMemory, INTERPRETER_FACTOR } from '../budget.ts';
import type { CheckedProgram } from '../check/check.ts';
import { fail } from '../diagnostics.ts';
import type { Graph, Id } from '../ir/graph.ts';
import { evaluateGraph } from '../ir/evaluate.ts';
import { primitive } from '../ir/prim.ts';
import { compile } from '../pipeline.ts';
import * as T from '../../runtime/tensor/index.ts';

type Dep = { kind: 'none' } | { kind: 'linear' } | { kind: 'affine' } | { kind: 'nonlinear'; because: Id };

export interface MergeVerdict {
  mergeable: boolean;
  reason: string;
  /** For mergeable adapters: the weight and bias to add to the frozen layer's (W: [In, Out]). */
  deltaW?: T.Tensor;
  deltaB?: T.Tensor;
  form: 'delta' | 'forward';
}

const describe = (g: Graph, id: Id) => {
  const n = g.node(id);
  const where = n.loc ? ` at ${n.loc.file}:${n.loc.line}:${n.loc.col}` : '';
  const p = primitive(n.op);
  return `${p.print ? p.print(n.attrs) : n.op}${where}`;
};

/** Classify every node's dependence on the input x. */
export function linearity(g: Graph, x: Id): Map<Id, Dep> {
  const dep = new Map<Id, Dep>();
  for (const id of g.live()) {
    const n = g.node(id);
    if (id === x) {
      dep.set(id, { kind: 'linear' });
      continue;
    }
    const ins = n.inputs.map((i) => dep.get(i)!);
    const xdep = ins.map((d, k) => (d.kind === 'none' ? -1 : k)).filter((k) => k >= 0);
    if (!xdep.length) {
      dep.set(id, { kind: 'none' });
      continue;
    }
    const bad = ins.find((d) => d.kind === 'nonlinear');
    if (bad) {
      dep.set(id, bad);
      continue;
    }
    const linearIn = primitive(n.op).linearIn?.(n) ?? [];
    if (n.op === 'add') {
      // A sum is linear if all terms are; a term free of x makes it affine.
      const allX = xdep.length === ins.length;
      const anyAffine = ins.some((d) => d.kind === 'affine');
      dep.set(id, allX && !anyAffine ? { kind: 'linear' } : { kind: 'affine' });
    } else if (xdep.length === 1 && linearIn.includes(xdep[0])) {
      dep.set(id, ins[xdep[0]].kind === 'affine' && n.op === 'einsum' && n.inputs.length > 1 ? { kind: 'affine' } : ins[xdep[0]]);
    } else dep.set(id, { kind: 'nonlinear', because: id });
  }
  return dep;
}

/**
 * `params`: the values ΔW is computed for — each initialiser's ('init') or random ones. The verdict
 * itself is always decided with random values: with an initial B = 0, a token-mixing adapter would
 * pass the numeric check trivially.
 */
/** `step`: the optimiser step ΔW is taken at, for adapters whose output reads `step` (SingLoRA's ramp). */
export function mergeVerdict(checked: CheckedProgram, adapter: string, settings: Record<string, number | boolean>, seed = 0, params: 'init' | 'random' = 'random', given?: Map<string, T.Tensor>, step?: number): MergeVerdict {
  const verdict = decide(checked, adapter, settings, seed, 'random', undefined, step ?? 1);
  if (!verdict.mergeable || (params === 'random' && !given)) return verdict;
  const at = decide(checked, adapter, settings, seed, params, given, step);
  return { ...verdict, deltaW: at.deltaW, deltaB: at.deltaB };
}

function decide(checked: CheckedProgram, adapter: string, settings: Record<string, number | boolean>, seed: number, params: 'init' | 'random', given?: Map<string, T.Tensor>, step?: number): MergeVerdict {
  const unit = checked.units.get(adapter);
  if (!unit || unit.decl.kind !== 'adapter') fail('E-name', `no adapter named '${adapter}'`);
  const form = unit.methods.has('delta') ? 'delta' : 'forward';
  guardMemory(`merging ${adapter}`, checked, adapter, { N: 3, ...settings }, INTERPRETER_FACTOR);
  const p = compile(checked, adapter, { settings: { N: 3, ...settings }, seed, forwardOnly: true, until: 'hoist', params, given, step: step ?? 0 });
  // ΔW of an adapter that reads the step counter depends on it: merging needs to know which step.
  if (step === undefined && p.graph.live().some((id) => p.graph.node(id).op === 'input' && p.graph.node(id).attrs.name === 'step'))
    fail('E-usage', `${adapter} reads \`step\` (its ΔW changes with the optimiser step): give the step to merge at with --step K`);
  const g = p.graph;
  const y = g.outputs.get('y')!;
  const x = g.live([y]).find((id) => g.node(id).op === 'input' && g.node(id).attrs.name === 'x');
  if (x === undefined) return { mergeable: true, reason: `${form} does not depend on x: it is a constant bias`, form, ...constantMerge(g, p.leaves, y) };
  const dep = linearity(g, x).get(y)!;
  if (dep.kind === 'nonlinear') {
    const src = g.node(dep.because);
    const router = src.op === 'softmax' ? ' (a data-dependent router: the mixing weights change with every batch)' : '';
    return { mergeable: false, reason: `${form} is not linear in x: ${describe(g, dep.because)} depends on x${router}`, form };
  }
  // Structurally affine: build ΔW = f(I) − f(0), Δb = f(0) and confirm f(x) = x ΔW + Δb.
  const In = g.shape(x)[g.shape(x).length - 1];
  const f = (input: T.Tensor) => evaluateGraph(g, new Map(p.leaves).set('x', input), [y]).get(y)!;
  const eye = T.zeros([In, In]);
  for (let i = 0; i < In; i++) eye.data[i * In + i] = 1;
  // f is evaluated on In rows; the graph was built for N = 3 rows, so re-lower at N = In.
  guardMemory(`merging ${adapter} (ΔW: the adapter on ${In} rows)`, checked, adapter, { ...settings, N: In }, 2 * INTERPRETER_FACTOR);
  const atIn = compile(checked, adapter, { settings: { ...settings, N: In }, seed, forwardOnly: true, until: 'hoist', params, given, step: step ?? 0 });
  const yIn = atIn.graph.outputs.get('y')!;
  const fIn = (input: T.Tensor) => evaluateGraph(atIn.graph, new Map(atIn.leaves).set('x', input), [yIn]).get(yIn)!;
  // W' = f(I) − f(0), b' = f(0): the whole affine map; a forward adapter's delta is W' − W0, b' − b0.
  const zero = fIn(T.zeros([In, In]));
  const bPrime = T.tensor([zero.shape[1]], zero.data.slice(0, zero.shape[1]));
  const wPrime = T.sub(fIn(eye), zero);
  const x3 = p.leaves.get('x')!;
  const close = T.allClose(T.add(T.matmul(x3, wPrime), bPrime), f(x3), { rtol: 1e-9, atol: 1e-9 });
  if (!close.ok) return { mergeable: false, reason: `${form} is linear in x but mixes tokens (its rows are not computed independently)`, form };
  const deltaW = form === 'forward' ? T.sub(wPrime, p.leaves.get('base.W')!) : wPrime;
  const deltaB = form === 'forward' ? T.sub(bPrime, p.leaves.get('base.b')!) : bPrime;
  const bias = deltaB.data.some((v) => Math.abs(v) > 1e-12);
  return {
    mergeable: true,
    reason: `${form} is ${dep.kind === 'affine' || bias ? 'affine' : 'linear'} in x and acts on each token alone: ΔW = ${form}(I) − ${form}(0)${form === 'forward' ? ' − W0' : ''}${bias ? `, Δb = ${form}(0)${form === 'forward' ? ' − b0' : ''}` : ''}`,
    form,
    deltaW,
    deltaB,
  };
}

function constantMerge(g: Graph, leaves: Map<string, T.Tensor>, y: Id) {
  const v = evaluateGraph(g, leaves, [y]).get(y)!;
  const Out = v.shape[v.shape.length - 1];
  return { deltaB: T.tensor([Out], v.data.slice(0, Out)) };
}
