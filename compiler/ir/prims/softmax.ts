// softmax and log_softmax along one axis, and max/min reductions (also used, under stopgrad, to
// stabilise logsumexp).
import * as T from '../../../runtime/tensor/index.ts';
import type { Graph, Id, Node } from '../graph.ts';
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

/**
 * The gradient of max (or min) over axes: the cotangent goes to the entries equal to the result,
 * shared evenly among ties (as torch.amax): dx = ct · [x = m] / #{x = m}.
 */
function extremumVjp(g: Graph, node: Node, ct: Id): Id {
  const [x] = node.inputs;
  const shape = g.shape(x);
  const axes = node.attrs.axes as number[];
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const back = (id: Id) => g.add('broadcast', [id], { shape, map: kept });
  const differs = g.add('map', [g.add('map', [g.add('add', [x, scale(g, -1, back(node.id))])], { fn: 'abs' })], { fn: 'heaviside' });
  const hit = g.add('add', [g.add('fill', [], { value: 1, shape }), scale(g, -1, differs)]);
  const all = L.slice(0, shape.length);
  const count = g.add('einsum', [hit], { spec: `${all}->${kept.map((i) => all[i]).join('')}` });
  return mulSame(g, mulSame(g, back(ct), hit), back(g.add('map', [count], { fn: 'recip' })));
}

for (const kind of ['max', 'min'] as const)
  definePrim({
    name: `reduce_${kind}`,
    doc: `${kind} over axes; the gradient goes to the extreme entries, shared among ties`,
    shape: ([s], a) => s.filter((_, k) => !(a.axes as number[]).includes(k)),
    eval: ([x], a) => T[kind](x, a.axes as number[]),
    vjp: ({ g, node, ct }) => [extremumVjp(g, node, ct)],
    flops: (n, g) => numelOf(g.shape(n.inputs[0])),
    print: (a) => `reduce_${kind} axes [${a.axes}]`,
  });
