// The compiled forward program of an adapter as a Python function over torch tensors, generic in
// the dimensions torch-symbolic.ts could fit. It is the program after the `contract` stage (the
// rewrites and contraction orders `lily compile --explain` reports), restricted to what y needs.
import type { CheckedProgram } from '../check/check.ts';
import { fail } from '../diagnostics.ts';
import type { Graph, Id } from '../ir/graph.ts';
import { compile } from '../pipeline.ts';
import { FLOAT_ATTRS, Py, TORCH_PRIMS } from './torch-prims.ts';
import { fitDimensions, pyMonomial, splitNumbers, type Fit, type Monomial } from './torch-symbolic.ts';

export interface FwdNode {
  op: string;
  in: string;
  attrs: Record<string, unknown>;
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

/** The forward nodes of a compiled graph, with inputs as positions in the list. */
function forwardNodes(g: Graph): FwdNode[] {
  const y = g.outputs.get('y')!;
  const order = g.live([y]);
  const pos = new Map<Id, number>(order.map((id, i) => [id, i]));
  return order.map((id) => {
    const n = g.node(id);
    return { op: n.op, in: n.inputs.map((i) => pos.get(i)!).join(','), attrs: { ...n.attrs, shape: n.shape } };
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
}

/** The compiled adapter (after `contract`) at some settings. */
export const compiledGraph = (checked: CheckedProgram, adapter: string) => (settings: Record<string, number | boolean>) => compile(checked, adapter, { settings, params: 'random' }).graph;

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
    const nodes = forwardNodes(build(settings));
    const extra = opts.extraNumbers?.(settings) ?? [];
    return splitNumbers({ n: nodes, x: extra });
  };
  const base: Record<string, number> = {};
  for (const d of opts.dims) base[d] = opts.settings[d] as number;
  const fit = fitDimensions(base, probe);
  const nodes = forwardNodes(build(opts.settings));
  const extraCount = opts.extraNumbers?.(opts.settings).length ?? 0;
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
  const { nodes, attrs: symAttrs, fit, extra } = fitNodes(build, opts);
  const attrs = symAttrs.map((a) => mapSyms(a, (s) => new Py(pyMonomial(s.m, (d) => `D['${d}']`, !s.float))) as Record<string, unknown>);

  const lines: string[] = [];
  const vars: string[] = [];
  const scalar: boolean[] = [];
  const params: ForwardProgram['params'] = [];
  nodes.forEach((n, i) => {
    const a = attrs[i];
    const v = `t${i}`;
    vars.push(v);
    if (n.op === 'input') {
      if (n.attrs.name !== 'x') fail('E-export', `the forward of ${what} reads an input '${n.attrs.name}' besides x: only one-input programs can be exported`);
      vars[i] = 'x';
      scalar.push(false);
      return;
    }
    if (n.op === 'param') {
      vars[i] = `P[${JSON.stringify(n.attrs.name)}]`;
      params.push({ name: n.attrs.name as string, shape: pyTuple(a.shape as Py[]), trainable: !!n.attrs.trainable });
      scalar.push(false);
      return;
    }
    const ins = n.in ? n.in.split(',').map(Number) : [];
    const prim = TORCH_PRIMS[n.op] ?? fail('E-export', `the compiled forward of ${what} uses '${n.op}', which the PyTorch export cannot express`);
    const code = prim.render({ args: ins.map((j) => vars[j]), attrs: a, scalar: ins.map((j) => scalar[j]), like: 'dtype=x.dtype, device=x.device' });
    scalar.push(!!prim.scalar);
    lines.push(`    ${v} = ${code}`);
  });
  const fnLines = [`def ${opts.fnName}(x, P, D, M=None):`, ...lines, `    return ${vars[vars.length - 1]}`];
  return { code: fnLines.join('\n'), fit, params, extra };
}

export const pyTuple = (xs: Py[]) => `(${xs.map((x) => x.code).join(', ')}${xs.length === 1 ? ',' : ''})`;
