// Reverse-mode automatic differentiation, generic over the primitive table: walk the graph from
// the output back, asking each primitive for its VJP (written with IR ops), and sum cotangents.
// It never names a specific primitive.
import { fail } from '../diagnostics.ts';
import type { Graph, Id } from '../ir/graph.ts';
import { primitive } from '../ir/prim.ts';

/**
 * Add to `g` the gradients of ⟨output, ct⟩ with respect to `wrt`. Returns the gradient node of
 * each requested node (a zero fill when it does not influence the output).
 */
export function vjp(g: Graph, output: Id, ct: Id, wrt: Id[]): Map<Id, Id> {
  const order = g.live([output]);
  // Only nodes on a path from a wanted leaf to the output need cotangents.
  const wanted = new Set(wrt);
  const needs = new Set<Id>();
  for (const id of order) if (wanted.has(id) || g.node(id).inputs.some((i) => needs.has(i))) needs.add(id);
  const cts = new Map<Id, Id[]>([[output, [ct]]]);
  const total = (id: Id): Id | undefined => {
    const parts = cts.get(id);
    if (!parts?.length) return undefined;
    return parts.reduce((a, b) => g.add('add', [a, b]));
  };
  for (let k = order.length - 1; k >= 0; k--) {
    const id = order[k];
    if (!needs.has(id) || wanted.has(id)) continue;
    const node = g.node(id);
    const c = total(id);
    if (c === undefined) continue;
    const prim = primitive(node.op);
    if (!node.inputs.some((i) => needs.has(i))) continue;
    if (!prim.vjp) fail('E-grad', `cannot differentiate through '${node.op}': it has no gradient rule`, node.loc);
    g.loc = node.loc; // backward nodes point at the forward expression they differentiate
    const contributions = prim.vjp({ g, node, ct: c });
    node.inputs.forEach((input, i) => {
      const contrib = contributions[i];
      if (contrib === undefined || !needs.has(input)) return;
      cts.set(input, [...(cts.get(input) ?? []), contrib]);
    });
  }
  g.loc = undefined;
  return new Map(wrt.map((w) => [w, total(w) ?? g.add('fill', [], { value: 0, shape: g.shape(w) })]));
}
