// The program's dimension names of a node's axes (`In`, `r`, `E`), traced from the leaves' declared
// shapes through each primitive's `axes` rule. Messages about a sum of products name its indices by
// these, not by size: two dimensions of equal size are still told apart.
import type { Graph, Id, Node } from './graph.ts';
import { primitive, type AxisNames } from './prim.ts';
import { parseSpec } from './prims/einsum.ts';

/** Leaf name → the dimension name of each axis, as declared (`param A: [In, r]`). */
export type LeafAxes = ReadonlyMap<string, AxisNames>;

const memo = new WeakMap<Graph, WeakMap<LeafAxes, Map<Id, AxisNames>>>();

export function axisNames(g: Graph, id: Id, leafAxes: LeafAxes): AxisNames {
  let byLeaves = memo.get(g);
  if (!byLeaves) memo.set(g, (byLeaves = new WeakMap()));
  let m = byLeaves.get(leafAxes);
  if (!m) byLeaves.set(leafAxes, (m = new Map()));
  // Iterative post-order: graphs of real models are deep enough to overflow recursion.
  const stack: Id[] = [id];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (m.has(top)) {
      stack.pop();
      continue;
    }
    const n = g.node(top);
    const missing = n.inputs.filter((i) => !m.has(i));
    if (missing.length) {
      stack.push(...missing);
      continue;
    }
    stack.pop();
    m.set(top, namesOf(g, n, n.inputs.map((i) => m.get(i)!), leafAxes));
  }
  return m.get(id)!;
}

function namesOf(g: Graph, n: Node, inputs: AxisNames[], leafAxes: LeafAxes): AxisNames {
  const prim = primitive(n.op);
  if (prim.leaf) {
    const declared = leafAxes.get(n.attrs.name as string);
    return declared?.length === n.shape.length ? declared : n.shape.map(() => undefined);
  }
  if (prim.axes) return prim.axes(inputs, n, g);
  // An op on equal shapes (elementwise, softmax along an axis, …) keeps its inputs' names.
  const same = n.inputs.every((i) => g.shape(i).length === n.shape.length && g.shape(i).every((d, k) => d === n.shape[k]));
  return n.shape.map((_, k) => (same ? inputs.find((a) => a[k] !== undefined)?.[k] : undefined));
}

/** The dimension name of each index letter of an einsum node, where its operands know it. */
export function letterNames(g: Graph, node: Node, leafAxes: LeafAxes): Map<string, string> {
  const s = parseSpec(node.attrs.spec as string);
  const out = new Map<string, string>();
  s.ins.forEach((sub, o) => {
    const names = axisNames(g, node.inputs[o], leafAxes);
    [...sub].forEach((c, k) => names[k] !== undefined && !out.has(c) && out.set(c, names[k]!));
  });
  return out;
}
