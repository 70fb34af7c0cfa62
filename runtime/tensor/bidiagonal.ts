// Householder bidiagonalisation in float64 (the first phase of a Golub–Kahan SVD): W = Q_L B Q_Rᵀ
// with B upper bidiagonal. A 768×768 matrix takes about 1.2 GFLOP, so the loops are written for
// speed: row-major storage, and ONE pass over the trailing matrix per step that applies the left
// reflector, the right reflector and accumulates the next step's left product together, each row
// staying in L1 while it is worked on (the LAPACK dgebd2 order makes three passes).
import { bidiagonalKernel, type BidiagonalKernel } from './bidiagonal-wasm.ts';

export interface Bidiagonal {
  m: number;
  n: number;
  /** B's diagonal [n] and superdiagonal [n − 1] */
  d: Float64Array;
  e: Float64Array;
  /**
   * The reflectors, stored in place (row-major [m, n], LAPACK's layout): left reflector k below the
   * diagonal in column k (v_k[k] = 1 implied), right reflector k right of the superdiagonal in row k
   * (u_k[k+1] = 1 implied). With the WebAssembly kernel this is a view of its memory, followed by
   * 3n doubles of work space and room for an [m, COLUMNS] block of columns for applyLeft / applyRight.
   */
  a: Float64Array;
  kernel: BidiagonalKernel | null;
  tauL: Float64Array;
  tauR: Float64Array;
}

/** The left reflector of a column: α on the diagonal, Σ x_i² below it (the column itself for a safe, scaled sum). */
function leftReflector(alpha: number, below2: number, column: () => number[]): { beta: number; tau: number; scale: number } {
  if (below2 === 0) return { beta: alpha, tau: 0, scale: 1 };
  let norm = Math.sqrt(alpha * alpha + below2);
  if (!Number.isFinite(norm) || below2 < 1e-280) {
    // over- or underflow in the plain sum of squares: scale by the largest entry
    const xs = column();
    const big = Math.max(Math.abs(alpha), ...xs.map(Math.abs));
    norm = big * Math.sqrt((alpha / big) ** 2 + xs.reduce((acc, x) => acc + (x / big) ** 2, 0));
  }
  const beta = -(alpha >= 0 ? 1 : -1) * norm;
  return { beta, tau: (beta - alpha) / beta, scale: 1 / (alpha - beta) };
}

/**
 * Bidiagonalise a row-major [m, n] matrix, m ≥ n (the data is copied). The row pass runs as a
 * WebAssembly SIMD kernel where there is one (bidiagonal-wasm.ts), else as rowPassLoop;
 * `wasm: false` asks for the loop (tests compare the two).
 */
export function bidiagonalize(data: ArrayLike<number>, m: number, n: number, opts: { wasm?: boolean } = {}): Bidiagonal {
  if (m < n) throw new Error(`bidiagonalize: needs m >= n, got [${m}, ${n}]`);
  // one block: the matrix, then w, u and wNext, each a run of doubles (then room for applyLeft's columns)
  const kernel = opts.wasm === false ? null : bidiagonalKernel(8 * (m * n + 3 * n + m * COLUMNS));
  const block = kernel ? new Float64Array(kernel.memory.buffer, 0, m * n + 3 * n) : new Float64Array(m * n + 3 * n);
  const a = block.subarray(0, m * n);
  a.set(data);
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n - 1, 0));
  const tauL = new Float64Array(n);
  const tauR = new Float64Array(n);
  const w = block.subarray(m * n, m * n + n); // w_j = Σ_i v_i a[i, j]: the left reflector's product with the trailing rows
  const u = block.subarray(m * n + n, m * n + 2 * n); // the right reflector (u[k+1] = 1)
  const wNext = block.subarray(m * n + 2 * n); // Σ_{i > k+1} a[i, k+1] a[i, j] gathered during step k, for step k + 1
  const pass = kernel
    ? (k: number, tau: number, tauRk: number, scale: number) => kernel.pass(0, 8 * m * n, 8 * (m * n + n), 8 * (m * n + 2 * n), n, m, k, tau, tauRk, scale)
    : (k: number, tau: number, tauRk: number, scale: number) => rowPassLoop(a, w, u, wNext, n, m, k, tau, tauRk, scale);
  const column = (k: number) => Array.from({ length: m - k - 1 }, (_, i) => a[(k + 1 + i) * n + k]);

  // step 0's product and column norm, from the matrix as given (later steps get theirs from the previous pass)
  let below2 = 0;
  for (let i = 1; i < m; i++) {
    const ai = a[i * n];
    below2 += ai * ai;
    if (ai !== 0) for (let j = 1; j < n; j++) wNext[j] += ai * a[i * n + j];
  }
  for (let k = 0; k < n; k++) {
    // ---- left reflector from column k, rows k..m−1 (rows below k are scaled into v_k by the pass) ----
    const { beta, tau, scale } = leftReflector(a[k * n + k], below2, () => column(k));
    d[k] = beta;
    tauL[k] = tau;
    if (k === n - 1) {
      for (let i = k + 1; i < m; i++) a[i * n + k] *= scale;
      break;
    }
    // w_j = a[k, j] + Σ_{i>k} v_i a[i, j], from the product gathered unscaled in the last pass
    const k1 = k + 1;
    for (let j = k1; j < n; j++) w[j] = a[k * n + j] + scale * wNext[j];
    // row k: left update, then its tail is the vector of the right reflector
    const rk = k * n;
    for (let j = k1; j < n; j++) a[rk + j] -= tau * w[j];
    let tauRk = 0;
    {
      const x0 = a[rk + k1];
      let tail = 0;
      for (let j = k1 + 1; j < n; j++) tail = Math.max(tail, Math.abs(a[rk + j]));
      u.fill(0);
      u[k1] = 1;
      if (tail === 0) e[k] = x0;
      else {
        const big = Math.max(tail, Math.abs(x0));
        let s = (x0 / big) ** 2;
        for (let j = k1 + 1; j < n; j++) s += (a[rk + j] / big) ** 2;
        const beta = -(x0 >= 0 ? 1 : -1) * big * Math.sqrt(s);
        tauRk = (beta - x0) / beta;
        const sc = 1 / (x0 - beta);
        for (let j = k1 + 1; j < n; j++) u[j] = a[rk + j] *= sc;
        e[k] = beta;
      }
      tauR[k] = tauRk;
    }
    // ---- one pass over rows k+1..m−1 ----
    wNext.fill(0);
    below2 = pass(k, tau, tauRk, scale);
  }
  return { m, n, d, e, a, kernel, tauL, tauR };
}

/**
 * The row pass of step k (as the WebAssembly kernel does it): for rows i > k, v_i = a[i, k]·scale
 * (stored), the left update a[i, j] −= τ v_i w[j], the right update a[i, j] −= τR (a[i, ·]·u) u[j]
 * (j > k), and the next step's wn[j] += a[i, k+1] a[i, j] (i > k+1). Returns Σ_{i>k+1} a[i, k+1]².
 */
function rowPassLoop(a: Float64Array, w: Float64Array, u: Float64Array, wn: Float64Array, n: number, m: number, k: number, tau: number, tauR: number, scale: number): number {
  const k1 = k + 1;
  let below2 = 0;
  for (let i = k1; i < m; i++) {
    const r = i * n;
    const vi = a[r + k] * scale;
    a[r + k] = vi;
    const tv = tau * vi;
    let dot = 0;
    for (let j = k1; j < n; j++) {
      const x = a[r + j] - tv * w[j];
      a[r + j] = x;
      dot += x * u[j];
    }
    const td = tauR * dot;
    const c = i > k1 ? a[r + k1] - td : 0;
    below2 += c * c;
    for (let j = k1; j < n; j++) {
      const x = a[r + j] - td * u[j];
      a[r + j] = x;
      wn[j] += c * x;
    }
  }
  return below2;
}

/** the most columns the kernel's memory takes at once (wider blocks go through it in slices) */
const COLUMNS = 32;

/** X ← Q_L X for a row-major [m, c] block of columns (B's row space in the first n rows). */
export function applyLeft(b: Bidiagonal, X: Float64Array, c: number): void {
  const { m, n } = b;
  // reflector k: column k of a, from row k down (a stride of a row)
  applyReflectors(b, X, m, c, n - 1, b.tauL, (k) => ({ head: k, start: k, stride: n }));
}

/** X ← Q_R X for a row-major [n, c] block of columns. */
export function applyRight(b: Bidiagonal, X: Float64Array, c: number): void {
  const { n } = b;
  // reflector k: row k of a, from column k + 1 on
  applyReflectors(b, X, n, c, n - 2, b.tauR, (k) => ({ head: k + 1, start: k * n, stride: 1 }));
}

/**
 * X ← H_0 H_1 … H_last X: the reflectors applied last first, reflector k with v[head] = 1 and v[i]
 * = a[start + i·stride] below it: by the WebAssembly kernel in its memory, else as a loop.
 */
function applyReflectors(b: Bidiagonal, X: Float64Array, rows: number, c: number, last: number, taus: Float64Array, where: (k: number) => { head: number; start: number; stride: number }): void {
  const kernel = b.kernel;
  if (!kernel) {
    for (let k = last; k >= 0; k--) {
      if (taus[k] === 0) continue;
      const { head, start, stride } = where(k);
      reflectLoop(X, c, rows, head, b.a, start, stride, taus[k]);
    }
    return;
  }
  // columns are independent: up to COLUMNS at a time through the room after the matrix
  const xAt = b.m * b.n + 3 * b.n;
  for (let lo = 0; lo < c; lo += COLUMNS) {
    const w = Math.min(COLUMNS, c - lo);
    const block = new Float64Array(kernel.memory.buffer, 8 * xAt, rows * w);
    for (let i = 0; i < rows; i++) block.set(X.subarray(i * c + lo, i * c + lo + w), i * w);
    for (let k = last; k >= 0; k--) {
      if (taus[k] === 0) continue;
      const { head, start, stride } = where(k);
      kernel.reflect(8 * xAt, w, rows, head, 8 * start, 8 * stride, taus[k]);
    }
    for (let i = 0; i < rows; i++) X.set(block.subarray(i * w, i * w + w), i * c + lo);
  }
}

/**
 * X ← (I − τ v vᵀ) X for a row-major [rows, c] block, v[head] = 1, v[i] = a[start + i·stride] for
 * i > head (as the WebAssembly kernel's reflect does it): s = X[head] + Σ v_i X[i]; s ← τ s;
 * X[head] −= s; X[i] −= v_i s.
 */
function reflectLoop(X: Float64Array, c: number, rows: number, head: number, a: Float64Array, start: number, stride: number, tau: number): void {
  const s = X.slice(head * c, head * c + c);
  for (let i = head + 1; i < rows; i++) {
    const vi = a[start + i * stride];
    if (vi !== 0) for (let j = 0; j < c; j++) s[j] += vi * X[i * c + j];
  }
  for (let j = 0; j < c; j++) s[j] *= tau;
  for (let j = 0; j < c; j++) X[head * c + j] -= s[j];
  for (let i = head + 1; i < rows; i++) {
    const vi = a[start + i * stride];
    if (vi !== 0) for (let j = 0; j < c; j++) X[i * c + j] -= vi * s[j];
  }
}
