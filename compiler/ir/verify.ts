// The IR verifier: every node's primitive exists, its inputs come before it, and its recorded
// shape is what the primitive's shape rule says. Run after lowering and in tests after each pass.
import type { Graph } from './graph.ts';
import { primitive } from './prim.ts';

export function verifyGraph(g: Graph): void {
  for (const id of g.live()) {
    const n = g.node(id);
    const prim = primitive(n.op);
    for (const i of n.inputs) if (i >= id) throw new Error(`internal: IR node %${id} (${n.op}) uses %${i}, defined after it`);
    const shape = prim.shape(n.inputs.map((i) => g.shape(i)), n.attrs);
    if (shape.length !== n.shape.length || shape.some((d, k) => d !== n.shape[k]))
      throw new Error(`internal: IR node %${id} (${n.op}) has shape [${n.shape}] but its rule gives [${shape}]`);
    if (n.shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`internal: IR node %${id} has a bad shape [${n.shape}]`);
  }
}
