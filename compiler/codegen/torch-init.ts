// `from EXPR` initialisers (PiSSA, MiLoRA, LoRA-XS: SVD/QR of the base weight) for the PyTorch
// export. The interpreter runs them once in float64 at instantiation (compiler/interp/instance.ts);
// here the same expressions are lowered with GraphOps into one IR graph whose outputs are the
// initial values (`init:NAME`), so the exported module computes them in torch, from the layer it
// wraps, at construction/inject time (torch-forward.ts renders it like the forward).
import type { CheckedProgram, UnitInfo } from '../check/check.ts';
import { Graph } from '../ir/graph.ts';
import { GraphOps } from '../ir/graph-ops.ts';
import { evaluate, type Env } from '../interp/eval.ts';
import { resolveSettings } from '../interp/instance.ts';
import { tv } from '../interp/values.ts';
import type * as A from '../syntax/ast.ts';
import * as T from '../../runtime/tensor/index.ts';
import { evalDim } from '../check/dims.ts';

/** The parameters of an adapter initialised `from` an expression, in declaration order. */
export const fromParams = (decl: A.AdapterDecl) => decl.members.filter((m): m is A.ParamDecl => m.kind === 'param' && !!m.init.from);

/**
 * The graph computing every `from` parameter's initial value at these settings. Leaves: base.W
 * [In, Out], base.b [Out] and the other parameters (by name, their initial values as the module
 * draws them); outputs `init:NAME`.
 */
export function initGraph(checked: CheckedProgram, unit: UnitInfo, settings: Record<string, number | boolean>): Graph {
  const decl = unit.decl as A.AdapterDecl;
  const { sizes, hypers } = resolveSettings(checked, unit, settings);
  const g = new Graph();
  const ops = new GraphOps(g);
  const size = (d: Parameters<typeof evalDim>[0]) => evalDim(d, sizes);
  const leaf = (name: string, shape: number[]) => ops.leaf('param', name, T.zeros(shape), false);
  const [In, Out] = [size(unit.base!.inDim), size(unit.base!.outDim)];
  const env: Env = { ops, info: checked.info, sizes, vars: new Map(hypers), layers: new Map([['base', { kind: 'Linear', W: leaf('base.W', [In, Out]), b: leaf('base.b', [Out]) }]]), fns: checked.fns };
  for (const m of decl.members) {
    if (m.kind === 'param') {
      const shape = unit.params.find((x) => x.decl === m)!.shape.map(size);
      const v = m.init.from ? evaluate(m.init.from, env) : tv(leaf(m.name, shape));
      // A scalar initial value fills the parameter's shape, as instance.ts does.
      const t = v.kind === 'tensor' ? (v.t as number) : (ops.fill(shape, (v as { v: number }).v) as number);
      if (m.init.from) g.outputs.set(`init:${m.name}`, t);
      env.vars.set(m.name, tv(t));
    } else if (m.kind === 'let') env.vars.set(m.name, evaluate(m.value, env));
  }
  return g;
}
