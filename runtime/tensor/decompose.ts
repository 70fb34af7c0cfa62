// Matrix decompositions in float64, for initialisers that read a frozen weight (PiSSA, MiLoRA,
// LoRA-XS): they run once, at load, never inside a training step.
import { type Tensor, tensor } from './tensor.ts';

export interface Svd {
  /** [m, K] left singular vectors (columns), K = min(m, n). */
  U: Tensor;
  /** [K] singular values, largest first. */
  S: Tensor;
  /** [n, K] right singular vectors (columns): W = U diag(S) Vᵀ. */
  V: Tensor;
}

/**
 * Thin SVD by one-sided Jacobi rotations (Hestenes): orthogonalise the columns of W (or of Wᵀ when
 * m < n) until every pair is orthogonal to machine precision; accurate for the small and
 * ill-conditioned matrices adapters start from. Signs are fixed so each column of U has its
 * largest-magnitude entry positive (LAPACK's signs are arbitrary; U S Vᵀ is unaffected).
 */
export function svd(W: Tensor): Svd {
  if (W.shape.length !== 2) throw new Error(`svd: a matrix is needed, got shape [${W.shape}]`);
  const [m, n] = W.shape;
  if (m < n) {
    const t = svd(transpose2(W));
    return { U: t.V, S: t.S, V: t.U };
  }
  // Columns stored contiguously (a[j·m + i] is W[i, j]), so each rotation streams two rows.
  const a = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) a[j * m + i] = W.data[i * n + j];
  const v = new Float64Array(n * n); // v[j·n + i] is V[i, j]
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++)
      for (let q = p + 1; q < n; q++) {
        const P = p * m;
        const Q = q * m;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const x = a[P + i];
          const y = a[Q + i];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const x = a[P + i];
          const y = a[Q + i];
          a[P + i] = c * x - s * y;
          a[Q + i] = s * x + c * y;
        }
        const VP = p * n;
        const VQ = q * n;
        for (let i = 0; i < n; i++) {
          const x = v[VP + i];
          const y = v[VQ + i];
          v[VP + i] = c * x - s * y;
          v[VQ + i] = s * x + c * y;
        }
      }
    if (!rotated) break;
  }
  const sigma = Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let i = 0; i < m; i++) s += a[j * m + i] ** 2;
    return Math.sqrt(s);
  });
  const order = sigma.map((_, j) => j).sort((x, y) => sigma[y] - sigma[x] || x - y);
  const U = tensor([m, n]);
  const S = tensor([n]);
  const V = tensor([n, n]);
  order.forEach((j, k) => {
    S.data[k] = sigma[j];
    let big = 0;
    for (let i = 0; i < m; i++) if (Math.abs(a[j * m + i]) > Math.abs(big)) big = a[j * m + i];
    const sign = big < 0 ? -1 : 1;
    for (let i = 0; i < m; i++) U.data[i * n + k] = sigma[j] > 0 ? (sign * a[j * m + i]) / sigma[j] : 0;
    for (let i = 0; i < n; i++) V.data[i * n + k] = sign * v[j * n + i];
  });
  return { U, S, V };
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
