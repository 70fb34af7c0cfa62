// Hoisting: every value that depends only on frozen parameters and constants (base weights,
// frozen buffers, ‖W0‖, an SVD of W0, W0 − A0 B0) is the same at every training step, so it is
// computed once, here, at load (in float64) and becomes a frozen parameter of the program. What
// remains in the step depends on the data, the step, or trainable parameters.
import { fail } from '../diagnostics.ts';
import { Graph, type Id } from '../ir/graph.ts';
import { evaluateGraph } from '../ir/evaluate.ts';
import { primitive } from '../ir/prim.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import { shapeOnly } from '../interp/instance.ts';

export interface Hoisted {
  /** The frozen leaf that replaces the value. */
  name: string;
  shape: number[];
  /** FLOPs no longer computed per step. */
  flops: number;
  loc?: Graph['loc'];
  /** The node it replaces, in the graph given to hoistFrozen. */
  source: Id;
}

/** Cheap views are not worth a buffer of their own: a broadcast's input is hoisted instead. */
const NOT_HOISTED = new Set(['broadcast']);

/** `shapesOnly`: the leaves have no values (FLOP counts, plans): the hoisted values get none either. */
export function hoistFrozen(src: Graph, leaves: Map<string, Tensor>, shapesOnly = false): { graph: Graph; leaves: Map<string, Tensor>; hoisted: Hoisted[] } {
  const order = src.live();
  const fixed = new Map<Id, boolean>(); // the value never changes during training
  const cost = new Map<Id, number>(); // FLOPs of the fixed cone ending here
  for (const id of order) {
    const n = src.node(id);
    const prim = primitive(n.op);
    if (prim.leaf) fixed.set(id, n.op === 'param' && !n.attrs.trainable);
    else fixed.set(id, n.inputs.every((i) => fixed.get(i)));
    cost.set(id, prim.leaf ? 0 : prim.flops(n, src) + n.inputs.reduce((a, i) => a + (fixed.get(i) ? cost.get(i)! : 0), 0));
  }
  const consumers = new Map<Id, Id[]>();
  for (const id of order) for (const i of src.node(id).inputs) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(id);
  const outputs = new Set(src.outputs.values());
  const hoistable = (id: Id) => fixed.get(id)! && !primitive(src.node(id).op).leaf && !NOT_HOISTED.has(src.node(id).op) && cost.get(id)! > 0;
  const frontier = order.filter((id) => hoistable(id) && (outputs.has(id) || (consumers.get(id) ?? []).some((c) => !hoistable(c))));
  // Decompositions have no kernels: one that is not fixed would run every step, which it cannot.
  for (const id of order)
    if (src.node(id).op === 'decompose' && !fixed.get(id))
      fail('E-grad', `${src.node(id).attrs.part} runs once, at load, on values fixed during training (base weights, frozen parameters); this one depends on the data or on trainable parameters`, src.node(id).loc);
  if (!frontier.length) return { graph: src, leaves, hoisted: [] };

  const values = shapesOnly ? new Map(frontier.map((id) => [id, shapeOnly(src.node(id).shape)])) : evaluateGraph(src, leaves, frontier);
  const g = new Graph();
  const map = new Map<Id, Id>();
  const out = new Map(leaves);
  const hoisted: Hoisted[] = [];
  const frontierSet = new Set(frontier);
  for (const id of order) {
    const n = src.node(id);
    g.loc = n.loc;
    if (frontierSet.has(id)) {
      const at = n.loc ? `@${n.loc.line}:${n.loc.col}` : '';
      const name = `hoisted:${src.names.get(id) ?? ''}${at}#${hoisted.length}`;
      out.set(name, values.get(id)!);
      hoisted.push({ name, shape: n.shape, flops: cost.get(id)!, loc: n.loc, source: id });
      map.set(id, g.add('param', [], { name, shape: n.shape, trainable: false }));
    } else map.set(id, g.add(n.op, n.inputs.map((i) => map.get(i)!), n.attrs));
    const name = src.names.get(id);
    if (name && !g.names.has(map.get(id)!)) g.names.set(map.get(id)!, name);
  }
  for (const [name, id] of src.outputs) g.outputs.set(name, map.get(id)!);
  g.loc = undefined;
  // Dead nodes (inside the hoisted cones) are dropped by the next rebuild.
  return { graph: g, leaves: out, hoisted };
}
