// Reference evaluation of a graph in float64: each node by its primitive's eval.
import type { Tensor } from '../../runtime/tensor/index.ts';
import type { Graph, Id } from './graph.ts';
import { primitive } from './prim.ts';

/** `frozen`: values to use for given nodes instead of computing them (stop-gradient in FD checks). */
export function evaluateGraph(g: Graph, leaves: ReadonlyMap<string, Tensor>, roots: Id[] = [...g.outputs.values()], frozen?: ReadonlyMap<Id, Tensor>): Map<Id, Tensor> {
  const values = new Map<Id, Tensor>();
  for (const id of g.live(roots)) {
    const n = g.node(id);
    const f = frozen?.get(id);
    if (f) {
      values.set(id, f);
      continue;
    }
    const prim = primitive(n.op);
    if (prim.leaf) {
      const v = leaves.get(n.attrs.name as string);
      if (!v) throw new Error(`internal: no value for ${n.op} '${n.attrs.name}'`);
      values.set(id, v);
    } else values.set(id, prim.eval(n.inputs.map((i) => values.get(i)!), n.attrs, n));
  }
  return values;
}

export function evaluateOutputs(g: Graph, leaves: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  const values = evaluateGraph(g, leaves);
  return new Map([...g.outputs].map(([k, id]) => [k, values.get(id)!]));
}
