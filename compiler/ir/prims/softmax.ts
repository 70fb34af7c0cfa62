// softmax and log_softmax along one axis, and max/min reductions (used, under stopgrad, to
// stabilise logsumexp; they have no VJP of their own).
import * as T from '../../../runtime/tensor/index.ts';
import type { Graph, Id } from '../graph.ts';
import { definePrim, numelOf } from '../prim.ts';
import { mulSame, scale } from './elementwise.ts';

const L = 'abcdefghijklmnopqrstuvwxyz';

/** Sum over one axis and broadcast back: the "keepdims" sum the softmax VJPs need. */
function sumBack(g: Graph, x: Id, axis: number): Id {
  const shape = g.shape(x);
  const all = L.slice(0, shape.length);
  const kept = all.replace(L[axis], '');
  const s = g.add('einsum', [x], { spec: `${all}->${kept}` });
  return g.add('broadcast', [s], { shape, map: [...kept].map((c) => all.indexOf(c)) });
}

definePrim({
  name: 'softmax',
  doc: 'exp(x) / sum(exp(x)) along one axis',
  shape: ([s]) => s,
  eval: ([x], a) => T.softmax(x, a.axis as number),
  vjp({ g, node, ct }) {
    // dx = y ⊙ (ct − Σ_axis ct ⊙ y)
    const y = node.id;
    const inner = sumBack(g, mulSame(g, ct, y), node.attrs.axis as number);
    return [mulSame(g, y, g.add('add', [ct, scale(g, -1, inner)]))];
  },
  flops: (n) => 4 * numelOf(n.shape),
  print: (a) => `softmax axis ${a.axis}`,
});

definePrim({
  name: 'log_softmax',
  doc: 'x − logsumexp(x) along one axis',
  shape: ([s]) => s,
  eval: ([x], a) => T.logSoftmax(x, a.axis as number),
  vjp({ g, node, ct }) {
    // dx = ct − softmax(x) ⊙ Σ_axis ct
    const axis = node.attrs.axis as number;
    const sm = g.add('softmax', node.inputs, { axis });
    return [g.add('add', [ct, scale(g, -1, mulSame(g, sm, sumBack(g, ct, axis)))])];
  },
  flops: (n) => 4 * numelOf(n.shape),
  print: (a) => `log_softmax axis ${a.axis}`,
});

for (const kind of ['max', 'min'] as const)
  definePrim({
    name: `reduce_${kind}`,
    doc: `${kind} over axes (not differentiable here: use under stopgrad)`,
    shape: ([s], a) => s.filter((_, k) => !(a.axes as number[]).includes(k)),
    eval: ([x], a) => T[kind](x, a.axes as number[]),
    flops: (n, g) => numelOf(g.shape(n.inputs[0])),
    print: (a) => `reduce_${kind} axes [${a.axes}]`,
  });
