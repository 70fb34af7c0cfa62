// Matrix decompositions (SVD, QR) as one primitive with a `part` attribute. They have no gradient:
// they are meant for values fixed during training (base weights, frozen parameters), which the
// hoist stage computes once at load; an SVD of something that changes every step is refused there.
import * as T from '../../../runtime/tensor/index.ts';
import { definePrim } from '../prim.ts';

export type DecomposePart = 'svd_u' | 'svd_s' | 'svd_v' | 'qr_q' | 'qr_r';

const svdCache = new WeakMap<T.Tensor, T.SvdColumns>();
const qrCache = new WeakMap<T.Tensor, { Q: T.Tensor; R: T.Tensor }>();
/** U and V as returned by decomposePart: their columns, computed when a slice asks for them */
const lazyColumns = new WeakMap<T.Tensor, (lo: number, hi: number) => T.Tensor>();

/**
 * One part of the decomposition of a matrix (each decomposition computed once per tensor). U and V
 * come back lazy: `sliceColumns` computes only the columns a slice reads (PiSSA reads r of 768),
 * anything else that reads `.data` gets every column.
 */
export function decomposePart(x: T.Tensor, part: DecomposePart): T.Tensor {
  if (part.startsWith('svd')) {
    let d = svdCache.get(x);
    if (!d) svdCache.set(x, (d = T.svdColumns(x)));
    if (part === 'svd_s') return d.S;
    const K = d.S.shape[0];
    const columns = part === 'svd_u' ? d.U : d.V;
    let all: T.Tensor | undefined;
    const lazy = {
      shape: [x.shape[part === 'svd_u' ? 0 : 1], K],
      get data() {
        return (all ??= columns(0, K)).data;
      },
    } as T.Tensor;
    lazyColumns.set(lazy, columns);
    return lazy;
  }
  let d = qrCache.get(x);
  if (!d) qrCache.set(x, (d = T.qr(x)));
  return part === 'qr_q' ? d.Q : d.R;
}

/** x[..., lo:hi] along `axis`, computing only those columns when x is a lazy U or V. */
export function sliceColumns(x: T.Tensor, axis: number, lo: number, hi: number): T.Tensor {
  const columns = lazyColumns.get(x);
  if (columns && (axis === 1 || axis === -1)) return columns(lo, hi);
  return T.slice(x, axis, lo, hi);
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
  // SVD: the bidiagonalisation, 4mK² − 4K³/3 (the vectors of a few columns cost little more); QR: 2mnK.
  flops: (n, g) => {
    const [rows, cols] = g.shape(n.inputs[0]);
    const [m, K] = [Math.max(rows, cols), Math.min(rows, cols)];
    return (n.attrs.part as string).startsWith('svd') ? 4 * m * K * K - (4 * K ** 3) / 3 : 2 * rows * cols * K;
  },
  print: (a) => `decompose ${a.part}`,
});
