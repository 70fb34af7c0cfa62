// Matrix decompositions (SVD, QR) as one primitive with a `part` attribute. They have no gradient:
// they are meant for values fixed during training (base weights, frozen parameters), which the
// hoist stage computes once at load; an SVD of something that changes every step is refused there.
import * as T from '../../../runtime/tensor/index.ts';
import { definePrim } from '../prim.ts';

export type DecomposePart = 'svd_u' | 'svd_s' | 'svd_v' | 'qr_q' | 'qr_r';

const svdCache = new WeakMap<T.Tensor, T.SvdColumns>();
const qrCache = new WeakMap<T.Tensor, { Q: T.Tensor; R: T.Tensor }>();
/** S, U and V as returned by decomposePart: their entries along `axis`, computed when a slice asks for them */
const lazyParts = new WeakMap<T.Tensor, { axis: number; slice: (lo: number, hi: number) => T.Tensor }>();

/**
 * One part of the decomposition of a matrix (each decomposition computed once per tensor). S, U and
 * V come back lazy: `sliceColumns` computes only the values or columns a slice reads (PiSSA reads r
 * of 768), anything else that reads `.data` gets all of them (S: every value by the QR iteration).
 */
export function decomposePart(x: T.Tensor, part: DecomposePart): T.Tensor {
  if (part.startsWith('svd')) {
    let d = svdCache.get(x);
    if (!d) svdCache.set(x, (d = T.svdColumns(x)));
    const svd = d;
    const K = Math.min(x.shape[0], x.shape[1]);
    if (part === 'svd_s') {
      const lazy = {
        shape: [K],
        get data() {
          return svd.S.data;
        },
      } as T.Tensor;
      lazyParts.set(lazy, { axis: 0, slice: svd.values });
      return lazy;
    }
    const columns = part === 'svd_u' ? svd.U : svd.V;
    let all: T.Tensor | undefined;
    const lazy = {
      shape: [x.shape[part === 'svd_u' ? 0 : 1], K],
      get data() {
        return (all ??= columns(0, K)).data;
      },
    } as T.Tensor;
    lazyParts.set(lazy, { axis: 1, slice: columns });
    return lazy;
  }
  let d = qrCache.get(x);
  if (!d) qrCache.set(x, (d = T.qr(x)));
  return part === 'qr_q' ? d.Q : d.R;
}

/** x[..., lo:hi] along `axis`, computing only those entries when x is a lazy S (values) or U or V (columns). */
export function sliceColumns(x: T.Tensor, axis: number, lo: number, hi: number): T.Tensor {
  const lazy = lazyParts.get(x);
  if (lazy && (axis < 0 ? axis + x.shape.length : axis) === lazy.axis) return lazy.slice(lo, hi);
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
