// Elementwise primitives on operands of equal shape (broadcasting is explicit in the IR):
// add, unary functions (map) and their derivatives (map_grad), pow.
import * as T from '../../../runtime/tensor/index.ts';
import type { Graph, Id, Node } from '../graph.ts';
import { definePrim, numelOf } from '../prim.ts';
import { specAttrs } from './einsum.ts';

const letters = (rank: number) => 'abcdefghijklmnopqrstuvwxyz'.slice(0, rank);
/** Elementwise product of equal-shape tensors, as an einsum (so it joins sums of products). */
export const mulSame = (g: Graph, a: Id, b: Id): Id => {
  const l = letters(g.shape(a).length);
  return g.add('einsum', [a, b], specAttrs(`${l},${l}->${l}`));
};
export const scale = (g: Graph, c: number, x: Id): Id => {
  const l = letters(g.shape(x).length);
  return g.add('einsum', [g.add('const', [], { value: c }), x], specAttrs(`,${l}->${l}`));
};

const sameShape = (shapes: number[][], op: string) => {
  const first = shapes[0];
  for (const s of shapes) {
    let same = s.length === first.length;
    for (let i = 0; same && i < s.length; i++) same = s[i] === first[i];
    if (!same) throw new Error(`internal: ${op} of shapes ${shapes.map((x) => `[${x}]`).join(' ')}`);
  }
  return first;
};

const isZero = (n: Node) => (n.op === 'fill' || n.op === 'const') && n.attrs.value === 0;

definePrim({
  name: 'add',
  doc: 'elementwise sum of equal-shape tensors',
  shape: (s) => sameShape(s, 'add'),
  eval: ([a, b]) => T.add(a, b),
  vjp: ({ ct, node }) => node.inputs.map(() => ct),
  flops: (n) => numelOf(n.shape),
  normalize(g, [a, b]) {
    // x + 0 = x
    if (isZero(g.node(b))) return a;
    if (isZero(g.node(a))) return b;
    return a > b ? g.add('add', [b, a]) : undefined; // commutative: canonical order for CSE
  },
});

definePrim({
  name: 'map',
  doc: 'an elementwise function (exp, log, relu, gelu, ...)',
  shape: ([s]) => s,
  eval: ([x], a) => T.map(x, T.unary[a.fn as T.UnaryName].f),
  // A piecewise-constant function (heaviside, floor) passes no gradient.
  vjp: ({ g, node, ct }) => ((T.unary[node.attrs.fn as T.UnaryName] as T.UnaryFn).constant ? [undefined] : [mulSame(g, ct, g.add('map_grad', node.inputs, { fn: node.attrs.fn }))]),
  flops: (n) => numelOf(n.shape),
  print: (a) => `map ${a.fn}`,
});

definePrim({
  name: 'map_grad',
  doc: "the derivative of an elementwise function, f'(x)",
  shape: ([s]) => s,
  eval: ([x], a) => T.map(x, T.unary[a.fn as T.UnaryName].df),
  flops: (n) => numelOf(n.shape),
  print: (a) => `map_grad ${a.fn}`,
});

definePrim({
  name: 'pow',
  doc: 'a ** b elementwise',
  shape: (s) => sameShape(s, 'pow'),
  eval: ([a, b]) => T.pow(a, b),
  vjp({ g, node, ct }) {
    const [a, b] = node.inputs;
    const bMinus1 = g.add('add', [b, g.add('fill', [], { value: -1, shape: g.shape(b) })]);
    const da = mulSame(g, ct, mulSame(g, b, g.add('pow', [a, bMinus1])));
    const db = mulSame(g, ct, mulSame(g, g.add('map', [a], { fn: 'log' }), node.id));
    return [da, g.node(b).op === 'fill' || g.node(b).op === 'const' ? undefined : db];
  },
  flops: (n) => numelOf(n.shape),
});

definePrim({
  name: 'stopgrad',
  doc: 'the same value, with no gradient flowing back (detach)',
  shape: ([s]) => s,
  eval: ([x]) => x,
  vjp: () => [undefined],
  flops: () => 0,
});
