// Householder bidiagonalisation in float64 (the first phase of a Golub–Kahan SVD): W = Q_L B Q_Rᵀ
// with B upper bidiagonal. A 768×768 matrix takes about 1.2 GFLOP, so the loops are written for
// speed: row-major storage, and ONE pass over the trailing matrix per step that applies the left
// reflector, the right reflector and accumulates the next step's left product together, each row
// staying in L1 while it is worked on (the LAPACK dgebd2 order makes three passes).
import { bidiagonalKernel, type BidiagonalKernel } from './bidiagonal-wasm.ts';

/**
 * A big step's row pass is cut into two halves of rows, each adding its terms of the next step's
 * product into its own vector (summed after), so that two threads can run them at once without
 * sharing a cache line of the matrix. The cut depends only on the sizes (never on whether a second
 * thread is there), so every platform gets the same bits: a second thread (Node: bidiagonal-threads.ts,
 * installed by the CPU backend) only runs the second half at the same time as the first.
 */
export interface RowPassHelper {
  /** a session on a kernel whose memory is shared, its control area at byte `ctrl` (null: none now) */
  attach(kernel: BidiagonalKernel, ctrl: number): RowPassSession | null;
}
export interface RowPassSession {
  /** whether the helper has joined (until then the halves run one after the other on this thread) */
  ready(): boolean;
  /**
   * The kernel's pass over each chunk (rows lo..hi−1, its terms into the vector at byte wn: arguments
   * 7, 8 and 3 of `args`), all done on return; each chunk's Σ a[i, k+1]².
   */
  run(args: number[], chunks: [lo: number, hi: number, wn: number][]): [number, number];
  close(): void;
}
let rowPassHelper: RowPassHelper | null = null;
/** Install (or with null remove) the row pass's second thread. */
export function setRowPassHelper(helper: RowPassHelper | null): void {
  rowPassHelper = helper;
}
/** the least trailing block (rows × columns) whose pass is cut in two halves (a fixed size: results must not depend on the machine) */
export const SPLIT_MIN_ELEMENTS = 1 << 14;
/** bytes of the helper's control area (its layout: bidiagonal-threads.ts) */
export const ROW_PASS_CTRL_AREA = 512;

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

export interface BidiagonalizeOptions {
  /** false: the JavaScript loops (tests compare them with the kernel) */
  wasm?: boolean;
  /** false: no helper thread even where one is installed */
  threads?: boolean;
  /** the least trailing block cut in halves (default SPLIT_MIN_ELEMENTS; tests cut every step) */
  splitMin?: number;
}

/**
 * Bidiagonalise a row-major [m, n] matrix, m ≥ n (the data is copied). The row pass runs as a
 * WebAssembly SIMD kernel where there is one (bidiagonal-wasm.ts), else as rowPassLoop;
 * `wasm: false` asks for the loop (tests compare the two).
 */
export function bidiagonalize(data: ArrayLike<number>, m: number, n: number, opts: BidiagonalizeOptions = {}): Bidiagonal {
  if (m < n) throw new Error(`bidiagonalize: needs m >= n, got [${m}, ${n}]`);
  // one block: the matrix, then w, u and wNext, each a run of doubles, room for applyLeft's columns,
  // the second half's wNext, then (with a helper thread) its control area
  const helper = opts.wasm === false || opts.threads === false ? null : rowPassHelper;
  const wn2At = 8 * (m * n + 3 * n + m * COLUMNS);
  const ctrlAt = 64 * Math.ceil((wn2At + 8 * n) / 64);
  const kernel = opts.wasm === false ? null : ((helper && bidiagonalKernel(ctrlAt + ROW_PASS_CTRL_AREA, true)) ?? bidiagonalKernel(wn2At + 8 * n));
  const session = helper && kernel ? helper.attach(kernel, ctrlAt) : null;
  try {
    return bidiagonalizeIn(data, m, n, kernel, session, wn2At, opts.splitMin ?? SPLIT_MIN_ELEMENTS);
  } finally {
    session?.close();
  }
}

function bidiagonalizeIn(data: ArrayLike<number>, m: number, n: number, kernel: BidiagonalKernel | null, session: RowPassSession | null, wn2At: number, splitMin: number): Bidiagonal {
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
  const wNext2 = kernel ? new Float64Array(kernel.memory.buffer, wn2At, n) : new Float64Array(n); // the second half's terms
  const [wAt, uAt, wnAt] = [8 * m * n, 8 * (m * n + n), 8 * (m * n + 2 * n)];
  /** the pass of rows lo..hi−1, their terms into wn (wNext or wNext2) */
  const pass = kernel
    ? (k: number, lo: number, hi: number, second: boolean, tau: number, tauRk: number, scale: number) =>
        kernel.pass(0, wAt, uAt, second ? wn2At : wnAt, n, m, k, lo, hi, tau, tauRk, scale)
    : (k: number, lo: number, hi: number, second: boolean, tau: number, tauRk: number, scale: number) =>
        rowPassLoop(a, w, u, second ? wNext2 : wNext, n, k, lo, hi, tau, tauRk, scale);
  /** step k's row pass (wNext zeroed): whole, or in two halves (on two threads where a helper has joined) */
  const rowPass = (k: number, tau: number, tauRk: number, scale: number): number => {
    const k1 = k + 1;
    if ((m - k1) * (n - k1) < splitMin) return pass(k, k1, m, false, tau, tauRk, scale);
    const mid = Math.min(m, k1 + 2 * Math.ceil((m - k1) / 4)); // an even number of rows first (rows go in pairs)
    wNext2.fill(0);
    let b0: number, b1: number;
    if (session?.ready()) [b0, b1] = session.run([0, wAt, uAt, 0, n, m, k, 0, 0, tau, tauRk, scale], [[k1, mid, wnAt], [mid, m, wn2At]]);
    else [b0, b1] = [pass(k, k1, mid, false, tau, tauRk, scale), pass(k, mid, m, true, tau, tauRk, scale)];
    for (let j = k1; j < n; j++) wNext[j] += wNext2[j];
    return b0 + b1;
  };
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
    below2 = rowPass(k, tau, tauRk, scale);
  }
  return { m, n, d, e, a, kernel, tauL, tauR };
}

/**
 * The row pass of step k on rows lo..hi−1 (as the WebAssembly kernel does it): v_i = a[i, k]·scale
 * (stored), the left update a[i, j] −= τ v_i w[j], the right update a[i, j] −= τR (a[i, ·]·u) u[j]
 * (j > k), and the next step's wn[j] += a[i, k+1] a[i, j] (i > k+1). Returns their Σ a[i, k+1]².
 */
function rowPassLoop(a: Float64Array, w: Float64Array, u: Float64Array, wn: Float64Array, n: number, k: number, lo: number, hi: number, tau: number, tauR: number, scale: number): number {
  const k1 = k + 1;
  let below2 = 0;
  for (let i = lo; i < hi; i++) {
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
