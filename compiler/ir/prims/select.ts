// Selection: the positions 0..n−1 (iota), the top-k mask along an axis, slices and their transpose
// (a product with a constant shift matrix, so it fuses as a contraction). A mask is piecewise
// constant in its input, so it passes no gradient: in x * topk[E](x, k) the gradient reaches x
// through the selected values only (as PyTorch's topk/gather does).
import * as T from '../../../runtime/tensor/index.ts';
import type { Graph, Id } from '../graph.ts';
import { definePrim, numelOf } from '../prim.ts';
import { sliceColumns } from './decompose.ts';

definePrim({
  name: 'iota',
  doc: 'the positions 0, 1, …, n − 1',
  shape: (_s, a) => [a.n as number],
  eval: (_i, a) => T.tensor([a.n as number], Float64Array.from({ length: a.n as number }, (_, i) => i)),
  flops: () => 0,
  print: (a) => `iota ${a.n}`,
});

definePrim({
  name: 'topk_mask',
  doc: '1 at the k largest entries along an axis (ties: the lower index), 0 elsewhere; no gradient',
  shape: ([s]) => s,
  eval: ([x], a) => T.topkMask(x, a.axis as number, a.k as number),
  vjp: () => [undefined],
  // Each entry is ranked against its fiber: a compare, an equality test and a sum per pair.
  flops: (n) => 6 * numelOf(n.shape) * n.shape[n.attrs.axis as number],
  print: (a) => `topk_mask axis ${a.axis} k ${a.k}`,
});

definePrim({
  name: 'shift_matrix',
  doc: 'the constant [rows, cols] matrix S[i, j] = [i = j + offset]: S x places x at offset (pads)',
  shape: (_s, a) => [a.rows as number, a.cols as number],
  eval: (_i, a) => shiftMatrix(a.rows as number, a.cols as number, a.offset as number),
  flops: () => 0,
  print: (a) => `shift_matrix [${a.rows}, ${a.cols}] offset ${a.offset}`,
});

export function shiftMatrix(rows: number, cols: number, offset: number): T.Tensor {
  const m = T.zeros([rows, cols]);
  for (let j = 0; j < cols; j++) if (j + offset < rows) m.data[(j + offset) * cols + j] = 1;
  return m;
}

const L = 'abcdefghijklmnopqrstuvwxyz';
/** x placed at offset lo of a zero axis of the given size: S ⋅ x along that axis. */
export function padAlong(g: Graph, x: Id, axis: number, lo: number, size: number): Id {
  const shape = g.shape(x);
  const s = g.add('shift_matrix', [], { rows: size, cols: shape[axis], offset: lo });
  const all = L.slice(0, shape.length);
  const out = all.slice(0, axis) + 'z' + all.slice(axis + 1);
  return g.add('einsum', [s, x], { spec: `z${all[axis]},${all}->${out}` });
}

definePrim({
  name: 'slice',
  doc: 'entries lo..hi−1 along an axis',
  shape: ([s], a) => s.map((d, k) => (k === a.axis ? (a.hi as number) - (a.lo as number) : d)),
  eval: ([x], a) => sliceColumns(x, a.axis as number, a.lo as number, a.hi as number),
  vjp: ({ g, node, ct }) => [padAlong(g, ct, node.attrs.axis as number, node.attrs.lo as number, g.shape(node.inputs[0])[node.attrs.axis as number])],
  flops: () => 0,
  print: (a) => `slice axis ${a.axis} [${a.lo}, ${a.hi})`,
  linearIn: () => [0],
});
