// Selection: the positions 0..n−1 (iota) and the top-k mask along an axis. A mask is piecewise
// constant in its input, so it passes no gradient: in x * topk[E](x, k) the gradient reaches x
// through the selected values only (as PyTorch's topk/gather does).
import * as T from '../../../runtime/tensor/index.ts';
import { definePrim, numelOf } from '../prim.ts';

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
