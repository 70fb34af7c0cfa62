// Primitives that move data without arithmetic: broadcast, reshape, take / untake.
import * as T from '../../../runtime/tensor/index.ts';
import { definePrim } from '../prim.ts';

definePrim({
  name: 'broadcast',
  doc: 'expand to a shape; input axis i becomes output axis map[i] (size 1 stretches)',
  shape: (_s, a) => a.shape as number[],
  eval: ([x], a) => T.broadcastAxes(x, a.shape as number[], a.map as number[]),
  normalize(g, [x], a) {
    const s = g.shape(x);
    const shape = a.shape as number[];
    const map = a.map as number[];
    if (s.length === shape.length && map.every((m, i) => m === i) && s.every((d, i) => d === shape[i])) return x;
    return undefined;
  },
  vjp({ g, node, ct }) {
    // Sum the cotangent over the axes the broadcast created or stretched, then restore the shape.
    const inShape = g.shape(node.inputs[0]);
    const map = node.attrs.map as number[];
    const out = node.shape;
    const L = 'abcdefghijklmnopqrstuvwxyz';
    const keep = map.filter((m, i) => inShape[i] === out[m]);
    const spec = `${L.slice(0, out.length)}->${keep.map((m) => L[m]).join('')}`;
    const summed = g.add('einsum', [ct], { spec });
    return [g.add('reshape', [summed], { shape: inShape })];
  },
  axes([names], node, g) {
    // An input axis keeps its name unless stretched from size 1; created axes have none.
    const inShape = g.shape(node.inputs[0]);
    const out: (string | undefined)[] = node.shape.map(() => undefined);
    (node.attrs.map as number[]).forEach((m, i) => {
      if (inShape[i] === node.shape[m]) out[m] = names[i];
    });
    return out;
  },
  flops: () => 0,
  print: (a) => `broadcast [${a.shape}] map [${a.map}]`,
  linearIn: () => [0],
});

definePrim({
  name: 'reshape',
  doc: 'the same elements in a new shape',
  shape: ([s], a) => {
    const shape = a.shape as number[];
    if (s.reduce((x, y) => x * y, 1) !== shape.reduce((x, y) => x * y, 1)) throw new Error(`internal: reshape [${s}] to [${shape}]`);
    return shape;
  },
  eval: ([x], a) => T.reshape(x, a.shape as number[]),
  normalize(g, [x], a) {
    const s = g.shape(x);
    const shape = a.shape as number[];
    if (s.length === shape.length && s.every((d, i) => d === shape[i])) return x;
    const inner = g.node(x);
    if (inner.op === 'reshape') return g.add('reshape', inner.inputs, a); // reshape of reshape
    return undefined;
  },
  vjp: ({ g, node, ct }) => [g.add('reshape', [ct], { shape: g.shape(node.inputs[0]) })],
  flops: () => 0,
  print: (a) => `reshape [${a.shape}]`,
  linearIn: () => [0],
});

definePrim({
  name: 'take',
  doc: 'select index i along an axis (the axis disappears)',
  shape: ([s], a) => s.filter((_, k) => k !== a.axis),
  eval: ([x], a) => T.take(x, a.axis as number, a.index as number),
  vjp: ({ g, node, ct }) => [g.add('untake', [ct], { axis: node.attrs.axis, index: node.attrs.index, size: g.shape(node.inputs[0])[node.attrs.axis as number] })],
  axes: ([names], node) => names.filter((_, k) => k !== node.attrs.axis),
  flops: () => 0,
  print: (a) => `take axis ${a.axis} index ${a.index}`,
  linearIn: () => [0],
});

definePrim({
  name: 'untake',
  doc: 'the transpose of take: place a slice at index i of a new zero axis',
  shape: ([s], a) => [...s.slice(0, a.axis as number), a.size as number, ...s.slice(a.axis as number)],
  eval: ([x], a) => {
    const axis = a.axis as number;
    const slices = Array.from({ length: a.size as number }, (_, i) => (i === a.index ? x : T.zeros(x.shape)));
    return T.stack(slices, axis);
  },
  vjp: ({ g, node, ct }) => [g.add('take', [ct], { axis: node.attrs.axis, index: node.attrs.index })],
  flops: () => 0,
  print: (a) => `untake axis ${a.axis} index ${a.index} of ${a.size}`,
  linearIn: () => [0],
});
