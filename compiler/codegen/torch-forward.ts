// The compiled forward program of an adapter as a Python function over torch tensors, generic in
// the dimensions torch-symbolic.ts could fit. It is the program after the `contract` stage (the
// rewrites and contraction orders `lily compile --explain` reports), restricted to what y needs.
import type { CheckedProgram } from '../check/check.ts';
import { fail } from '../diagnostics.ts';
import type { Graph, Id, Node } from '../ir/graph.ts';
import { compile } from '../pipeline.ts';
import { FLOAT_ATTRS, Py, TORCH_PRIMS } from './torch-prims.ts';
import { isStepRandomLeaf } from '../../runtime/init/step-random.ts';
import { CHANGES, fitDimensions, pyMonomial, splitNumbers, type Fit, type Monomial } from './torch-symbolic.ts';

export interface FwdNode {
  op: string;
  in: string;
  attrs: Record<string, unknown>;
  fwd: boolean;
  out: string;
}

export interface ForwardProgram {
  /** The Python source of `def <name>(x, P, D):`. */
  code: string;
  fit: Fit;
  /** Leaves the function reads from P, with their symbolic shapes (Python tuples over D). */
  params: { name: string; shape: string; trainable: boolean }[];
  /** Extra numbers the caller put in the probe (init arguments, …), as fitted monomials. */
  extra: Monomial[];
}

/** What a node's rendering reads: its attributes and, by default, its shape. */
export type AttrsOf = (n: Node, g: Graph) => Record<string, unknown>;
const ALL_ATTRS: AttrsOf = (n) => ({ ...n.attrs, shape: n.shape });

/**
 * The nodes of a compiled graph needed for the results (y; and, with `backward`, every gradient),
 * with inputs as positions in the list; `out` names the outputs a node is, `fwd` marks the results' part.
 */
function forwardNodes(g: Graph, backward = false, results = ['y'], attrsOf: AttrsOf = ALL_ATTRS): FwdNode[] {
  const outputs = [...g.outputs].filter(([k]) => results.includes(k) || (backward && k.startsWith('grad:'))).sort(([a], [b]) => (a < b ? -1 : 1));
  const order = g.live(outputs.map(([, id]) => id));
  const fwd = new Set(g.live(results.map((k) => g.outputs.get(k)!)));
  const pos = new Map<Id, number>(order.map((id, i) => [id, i]));
  return order.map((id) => {
    const n = g.node(id);
    const out = outputs.filter(([, o]) => o === id).map(([k]) => k).join(',');
    return { op: n.op, in: n.inputs.map((i) => pos.get(i)!).join(','), attrs: attrsOf(n, g), fwd: fwd.has(id), out };
  });
}

/** Replace numbers in a value, in splitNumbers' order, by Python expressions. */
function substitute(v: unknown, next: (float: boolean) => unknown, float = false): unknown {
  if (typeof v === 'number') return next(float);
  if (Array.isArray(v)) return v.map((x) => substitute(x, next, float));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) if ((v as Record<string, unknown>)[k] !== undefined) out[k] = substitute((v as Record<string, unknown>)[k], next, FLOAT_ATTRS.has(k));
    return out;
  }
  return v;
}

export interface ForwardOptions {
  settings: Record<string, number | boolean>;
  /** Dimensions to try to keep free (N, In, Out, Dim hyper-parameters). */
  dims: string[];
  /** Numbers that also depend on the sizes (init arguments), to fit alongside. */
  extraNumbers?: (settings: Record<string, number | boolean>) => number[];
  fnName: string;
  /** For messages: `adapter Lily`. */
  what?: string;
  /** Also render the compiler's backward program (`<fnName>_backward`). */
  backward?: boolean;
  /** The graph outputs the function returns (default y alone; several: a dict by name). */
  results?: string[];
  /** `dtype=…, device=…` for tensors made from nothing (default: x's). */
  like?: string;
  /**
   * What each node's rendering reads (default: its attributes and shape). Only those numbers are
   * fitted: an SVD's min(In, Out) columns that only a slice [:r] reads do not tie the export to In ≥ Out.
   */
  attrsOf?: AttrsOf;
  /** The caller spells parameter shapes from their declarations: they are not fitted (params[].shape is empty). */
  declaredParamShapes?: boolean;
  /** The name a parameter leaf has in P where it differs (model-wide `Adapter.A` is the adapter's `A`). */
  paramName?: (leaf: string) => string;
}

/** The compiled adapter (after `contract`) at some settings. */
export const compiledGraph =
  (checked: CheckedProgram, adapter: string, training = false) =>
  (settings: Record<string, number | boolean>) =>
    compile(checked, adapter, { settings, params: 'random', skip: ['hoist'], training }).graph; // the module computes frozen values itself

/** A number of the program as fitted: a monomial in the free dimensions; `float` for values, else sizes/indices. */
export class Sym {
  constructor(
    readonly m: Monomial,
    readonly float: boolean,
  ) {}
}

export interface FittedNodes {
  nodes: FwdNode[];
  /** Each node's attributes (with its shape), numbers replaced by Sym. */
  attrs: Record<string, unknown>[];
  fit: Fit;
  extra: Monomial[];
}

/** The forward nodes of the program at opts.settings, every number fitted over opts.dims. */
export function fitNodes(build: (settings: Record<string, number | boolean>) => Graph, opts: Omit<ForwardOptions, 'fnName'>): FittedNodes {
  const probe = (sizes: Record<string, number>) => {
    const settings = { ...opts.settings, ...sizes };
    const nodes = forwardNodes(build(settings), opts.backward, opts.results, opts.attrsOf);
    const extra = opts.extraNumbers?.(settings) ?? [];
    return splitNumbers({ n: nodes, x: extra });
  };
  const base: Record<string, number> = {};
  for (const d of opts.dims) base[d] = opts.settings[d] as number;
  let fit = fitDimensions(base, probe);
  let settings = opts.settings;
  // The export sizes may be a special point (r = alpha makes alpha / r = 1, which simplifies away,
  // so every move of r changes the program): then fit, and render, the program one step away,
  // which also holds at the export sizes, if that frees those dimensions and fixes no other.
  const special = Object.keys(fit.fixed).filter((d) => fit.fixed[d] === CHANGES);
  if (special.length) {
    const moved = { ...base };
    for (const d of special) moved[d] = base[d] + 1;
    try {
      const other = fitDimensions(moved, probe);
      if (Object.keys(other.fixed).every((d) => d in fit.fixed && !special.includes(d))) {
        fit = other;
        settings = { ...opts.settings, ...moved };
      }
    } catch {
      /* no program there: keep the fit at the export sizes */
    }
  }
  const nodes = forwardNodes(build(settings), opts.backward, opts.results, opts.attrsOf);
  const extraCount = opts.extraNumbers?.(settings).length ?? 0;
  let k = 0;
  const attrs = nodes.map((n) => substitute(n.attrs, (float) => new Sym(fit.numbers[k++], float)) as Record<string, unknown>);
  return { nodes, attrs, fit, extra: fit.numbers.slice(k, k + extraCount) };
}

/** Replace every Sym in a value. */
export function mapSyms(v: unknown, f: (s: Sym) => unknown): unknown {
  if (v instanceof Sym) return f(v);
  if (Array.isArray(v)) return v.map((x) => mapSyms(x, f));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapSyms(x, f)]));
  return v;
}

export function renderForward(build: (settings: Record<string, number | boolean>) => Graph, opts: ForwardOptions): ForwardProgram {
  const what = opts.what ?? 'the program';
  const torchAttrs: AttrsOf = (n, g) => {
    if (n.op === 'param' && opts.declaredParamShapes) return { ...n.attrs, shape: undefined };
    const prim = TORCH_PRIMS[n.op];
    if (prim?.attrs) return prim.attrs(n, g);
    return prim?.shape === false ? { ...n.attrs } : ALL_ATTRS(n, g);
  };
  const { nodes, attrs: symAttrs, fit, extra } = fitNodes(build, { attrsOf: torchAttrs, ...opts });
  const attrs = symAttrs.map((a) => mapSyms(a, (s) => new Py(pyMonomial(s.m, (d) => `D['${d}']`, !s.float))) as Record<string, unknown>);

  const params: ForwardProgram['params'] = [];
  const vars: string[] = [];
  const scalar: boolean[] = [];
  // The code of every non-leaf node; leaves are variables (x, dy, P[...]).
  const code: (string | undefined)[] = nodes.map((n, i) => {
    const a = attrs[i];
    vars.push(`t${i}`);
    if (n.op === 'input') {
      const name = n.attrs.name as string;
      // x and dy are arguments; `step` and the forward-pass random draws (rand:k) come from I,
      // which the wrapper fills (its step buffer, torch.rand or draws the caller feeds)
      if (name !== 'x' && name !== 'dy' && name !== 'step' && !isStepRandomLeaf(name)) fail('E-export', `the forward of ${what} reads an input '${name}' besides x: only one-input programs can be exported`);
      if (name === 'step' || isStepRandomLeaf(name)) {
        scalar.push(false);
        return `I(${JSON.stringify(name)}, ${pyTuple(a.shape as Py[])})`;
      }
      vars[i] = name;
      scalar.push(false);
      return undefined;
    }
    if (n.op === 'param') {
      const name = opts.paramName?.(n.attrs.name as string) ?? (n.attrs.name as string);
      vars[i] = `P[${JSON.stringify(name)}]`;
      params.push({ name, shape: opts.declaredParamShapes ? '' : pyTuple(a.shape as Py[]), trainable: !!n.attrs.trainable });
      scalar.push(false);
      return undefined;
    }
    const ins = n.in ? n.in.split(',').map(Number) : [];
    const prim = TORCH_PRIMS[n.op] ?? fail('E-export', `the compiled program of ${what} uses '${n.op}', which the PyTorch export cannot express`);
    scalar.push(!!prim.scalar);
    return prim.render({ args: ins.map((j) => vars[j]), attrs: a, scalar: ins.map((j) => scalar[j]), like: opts.like ?? 'dtype=x.dtype, device=x.device' });
  });
  const yIndex = nodes.findIndex((n) => n.out.split(',').includes('y'));
  const fwdLines = nodes.flatMap((n, i) => (n.fwd && code[i] !== undefined ? [`    ${vars[i]} = ${code[i]}`] : []));
  const signature = `def ${opts.fnName}(x, P, D, M=None, I=None):`;
  if (opts.results) {
    const out = opts.results.map((k) => `${JSON.stringify(k)}: ${vars[nodes.findIndex((n) => n.out.split(',').includes(k))]}`);
    return { code: [signature, ...fwdLines, `    return {${out.join(', ')}}`].join('\n'), fit, params, extra };
  }
  if (!opts.backward) {
    const fnLines = [signature, ...fwdLines, `    return ${vars[yIndex]}`];
    return { code: fnLines.join('\n'), fit, params, extra };
  }
  // The backward: nodes outside y's part; the forward tensors it reads are saved by the forward
  // (scalars are recomputed: they are Python floats).
  const uses = (i: number) => (nodes[i].in ? nodes[i].in.split(',').map(Number) : []);
  const bwd = nodes.map((n, i) => !n.fwd || (scalar[i] && nodes.some((m, j) => !m.fwd && uses(j).includes(i))));
  const saved = nodes.map((_, i) => i).filter((i) => nodes[i].fwd && !scalar[i] && code[i] !== undefined && (nodes.some((m, j) => !m.fwd && uses(j).includes(i)) || nodes[i].out.includes('grad:')));
  const savedVar = new Map(saved.map((i, k) => [i, `S[${k}]`]));
  const rename = (text: string) => text.replace(/\bt(\d+)\b/g, (m, d) => savedVar.get(Number(d)) ?? m);
  const bwdLines = nodes.flatMap((n, i) => (bwd[i] && code[i] !== undefined ? [`    ${vars[i]} = ${rename(code[i]!)}`] : []));
  const grads = nodes.flatMap((n, i) => n.out.split(',').filter((o) => o.startsWith('grad:')).map((o) => `${JSON.stringify(opts.paramName?.(o.slice(5)) ?? o.slice(5))}: ${savedVar.get(i) ?? vars[i]}`));
  const fnLines = [
    signature,
    ...fwdLines,
    `    return ${vars[yIndex]}, (${saved.map((i) => vars[i]).join(', ')}${saved.length === 1 ? ',' : ''})`,
    '',
    '',
    `def ${opts.fnName}_backward(x, dy, P, D, S):`,
    ...bwdLines,
    `    return {${grads.join(', ')}}`,
  ];
  return { code: fnLines.join('\n'), fit, params, extra };
}

export const pyTuple = (xs: Py[]) => `(${xs.map((x) => x.code).join(', ')}${xs.length === 1 ? ',' : ''})`;
