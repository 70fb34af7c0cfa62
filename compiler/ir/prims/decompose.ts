// Matrix decompositions (SVD, QR) as one primitive with a `part` attribute. They have no gradient:
// they are meant for values fixed during training (base weights, frozen parameters), which the
// hoist stage computes once at load; an SVD of something that changes every step is refused there.
import * as T from '../../../runtime/tensor/index.ts';
import { definePrim } from '../prim.ts';

export type DecomposePart = 'svd_u' | 'svd_s' | 'svd_v' | 'qr_q' | 'qr_r';

const svdCache = new WeakMap<T.Tensor, T.Svd>();
const qrCache = new WeakMap<T.Tensor, { Q: T.Tensor; R: T.Tensor }>();
/** One part of the decomposition of a matrix (each decomposition computed once per tensor). */
export function decomposePart(x: T.Tensor, part: DecomposePart): T.Tensor {
  if (part.startsWith('svd')) {
    let d = svdCache.get(x);
    if (!d) svdCache.set(x, (d = T.svd(x)));
    return part === 'svd_u' ? d.U : part === 'svd_s' ? d.S : d.V;
  }
  let d = qrCache.get(x);
  if (!d) qrCache.set(x, (d = T.qr(x)));
  return part === 'qr_q' ? d.Q : d.R;
}

/** Result shape of a part, for a [m, n] matrix (K = min(m, n)). */
export function decomposeShape([m, n]: number[], part: DecomposePart): number[] {
  const K = Math.min(m, n);
  return { svd_u: [m, K], svd_s: [K], svd_v: [n, K], qr_q: [m, K], qr_r: [K, n] }[part];
}

definePrim({
  name: 'decompose',
  doc: 'a part of the SVD (U, S, V: W = U diag(S) Vᵀ) or QR of a matrix; no gradient (computed once, at load)',
  shape: ([s], a) => decomposeShape(s, a.part as DecomposePart),
  eval: ([x], a) => decomposePart(x, a.part as DecomposePart),
  // Jacobi SVD: about 10 sweeps of n²/2 column pairs, 6m flops each; QR: 2mnK.
  flops: (n, g) => {
    const [rows, cols] = g.shape(n.inputs[0]);
    return (n.attrs.part as string).startsWith('svd') ? 30 * rows * Math.min(rows, cols) ** 2 : 2 * rows * cols * Math.min(rows, cols);
  },
  print: (a) => `decompose ${a.part}`,
});
