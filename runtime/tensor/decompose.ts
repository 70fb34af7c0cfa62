// Matrix decompositions in float64, for initialisers that read a frozen weight (PiSSA, MiLoRA,
// LoRA-XS): they run once, at load, never inside a training step.
import { SelectedValues, singularValuesComputed } from './bidiagonal-bisect.ts';
import { BidiagonalVectors, bidiagonalValues } from './bidiagonal-svd.ts';
import { applyLeft, applyRight, bidiagonalize } from './bidiagonal.ts';
import { type Tensor, tensor } from './tensor.ts';

export interface Svd {
  /** [m, K] left singular vectors (columns), K = min(m, n). */
  U: Tensor;
  /** [K] singular values, largest first. */
  S: Tensor;
  /** [n, K] right singular vectors (columns): W = U diag(S) Vᵀ. */
  V: Tensor;
}

/** An SVD whose singular values and vectors are computed for the columns asked for (k-th largest first). */
export interface SvdColumns {
  /** [K] every singular value, largest first (by the QR iteration, when first read). */
  readonly S: Tensor;
  /** [hi − lo]: singular values lo..hi−1 alone (by bisection; as accurate as S's, not always the same bits). */
  values(lo: number, hi: number): Tensor;
  /** [m, hi − lo]: columns lo..hi−1 of U. */
  U(lo: number, hi: number): Tensor;
  /** [n, hi − lo]: columns lo..hi−1 of V. */
  V(lo: number, hi: number): Tensor;
}

/**
 * Thin SVD by Golub–Kahan–Reinsch in float64: Householder bidiagonalisation (bidiagonal.ts); every
 * singular value by implicit-shift QR on the bidiagonal when S is read whole, else those of the
 * columns asked for by bisection (bidiagonal-bisect.ts); and the singular vectors of those columns by
 * inverse iteration (bidiagonal-svd.ts), at the bisected values, so the r principal or minor triples of a
 * 768×768 weight cost little more than the bidiagonalisation (≈ 1.2 GFLOP). Signs are fixed so each
 * column of U has its largest-magnitude entry positive (LAPACK's signs are arbitrary; U S Vᵀ is
 * unaffected); for m < n the SVD of Wᵀ is taken, so the rule applies to V's columns.
 */
export function svdColumns(W: Tensor): SvdColumns {
  if (W.shape.length !== 2) throw new Error(`svd: a matrix is needed, got shape [${W.shape}]`);
  const [m, n] = W.shape;
  if (m < n) {
    const t = svdColumns(transpose2(W));
    return {
      get S() {
        return t.S;
      },
      values: t.values,
      U: t.V,
      V: t.U,
    };
  }
  const b = bidiagonalize(W.data, m, n);
  let S: Tensor | undefined;
  const everyValue = () => {
    singularValuesComputed.qr += n;
    return tensor([n], bidiagonalValues(b.d, b.e));
  };
  const qr = { values: () => (S ??= everyValue()).data, done: () => S !== undefined };
  const sigma = new SelectedValues(b.d, b.e, qr);
  const pairs = new BidiagonalVectors(b.d, b.e, sigma);
  const checkRange = (lo: number, hi: number) => {
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && 0 <= lo && lo <= hi && hi <= n)) throw new Error(`svd: columns [${lo}, ${hi}) of ${n}`);
  };
  const columns = new Map<number, { u: Float64Array; v: Float64Array }>();
  /** columns lo..hi−1 of U and V, transformed back from B's vectors together (one pass over the reflectors) */
  const ensure = (lo: number, hi: number) => {
    checkRange(lo, hi);
    const todo = [];
    for (let k = lo; k < hi; k++) if (!columns.has(k)) todo.push(k);
    const c = todo.length;
    if (!c) return;
    // the values together (and the one before: a cluster's start is sought from there)
    sigma.ensure(todo[0] > 0 ? [todo[0] - 1, ...todo] : todo);
    const XU = new Float64Array(m * c);
    const XV = new Float64Array(n * c);
    todo.forEach((k, j) => {
      const p = pairs.pair(k);
      for (let i = 0; i < n; i++) {
        XU[i * c + j] = p.u[i];
        XV[i * c + j] = p.v[i];
      }
    });
    applyLeft(b, XU, c);
    applyRight(b, XV, c);
    todo.forEach((k, j) => {
      const u = new Float64Array(m);
      const v = new Float64Array(n);
      for (let i = 0; i < m; i++) u[i] = XU[i * c + j];
      for (let i = 0; i < n; i++) v[i] = XV[i * c + j];
      let big = 0;
      for (let i = 0; i < m; i++) if (Math.abs(u[i]) > Math.abs(big)) big = u[i];
      if (big < 0) {
        for (let i = 0; i < m; i++) u[i] = -u[i];
        for (let i = 0; i < n; i++) v[i] = -v[i];
      }
      columns.set(k, { u, v });
    });
  };
  const gather = (rows: number, lo: number, hi: number, which: 'u' | 'v') => {
    ensure(lo, hi);
    const out = tensor([rows, hi - lo]);
    for (let k = lo; k < hi; k++) {
      const x = columns.get(k)![which];
      for (let i = 0; i < rows; i++) out.data[i * (hi - lo) + k - lo] = x[i];
    }
    return out;
  };
  return {
    get S() {
      qr.values();
      return S!;
    },
    values: (lo, hi) => {
      checkRange(lo, hi);
      const ks = Array.from({ length: hi - lo }, (_, i) => lo + i);
      sigma.ensure(ks);
      return tensor([hi - lo], Float64Array.from(ks, (k) => sigma.get(k)));
    },
    U: (lo, hi) => gather(m, lo, hi, 'u'),
    V: (lo, hi) => gather(n, lo, hi, 'v'),
  };
}

/** Thin SVD: W = U diag(S) Vᵀ, every column (svdColumns computes only those asked for). */
export function svd(W: Tensor): Svd {
  const c = svdColumns(W);
  const K = c.S.shape[0];
  return { U: c.U(0, K), S: c.S, V: c.V(0, K) };
}

/** Thin QR by modified Gram–Schmidt: Q [m, K] orthonormal columns, R [K, n] upper triangular with a non-negative diagonal (K = min(m, n)). */
export function qr(W: Tensor): { Q: Tensor; R: Tensor } {
  if (W.shape.length !== 2) throw new Error(`qr: a matrix is needed, got shape [${W.shape}]`);
  const [m, n] = W.shape;
  const K = Math.min(m, n);
  const Q = tensor([m, K]);
  const R = tensor([K, n]);
  const col = (j: number) => Float64Array.from({ length: m }, (_, i) => W.data[i * n + j]);
  for (let j = 0; j < n; j++) {
    const w = col(j);
    for (let k = 0; k < Math.min(j, K); k++) {
      let r = 0;
      for (let i = 0; i < m; i++) r += Q.data[i * K + k] * w[i];
      R.data[k * n + j] = r;
      for (let i = 0; i < m; i++) w[i] -= r * Q.data[i * K + k];
    }
    if (j < K) {
      const norm = Math.sqrt(w.reduce((acc, x) => acc + x * x, 0));
      R.data[j * n + j] = norm;
      for (let i = 0; i < m; i++) Q.data[i * K + j] = norm > 0 ? w[i] / norm : 0;
    }
  }
  return { Q, R };
}

function transpose2(W: Tensor): Tensor {
  const [m, n] = W.shape;
  const t = tensor([n, m]);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t.data[j * m + i] = W.data[i * n + j];
  return t;
}
