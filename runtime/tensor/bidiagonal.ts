// Householder bidiagonalisation in float64 (the first phase of a Golub–Kahan SVD): W = Q_L B Q_Rᵀ
// with B upper bidiagonal. A 768×768 matrix takes about 1.2 GFLOP, so the loops are written for
// speed: row-major storage, and ONE pass over the trailing matrix per step that applies the left
// reflector, the right reflector and accumulates the next step's left product together, each row
// staying in L1 while it is worked on (the LAPACK dgebd2 order makes three passes).
import { bidiagonalKernel, type BidiagonalKernel } from './bidiagonal-wasm.ts';

/**
 * A big step's row pass is cut into CHUNKS runs of rows, each adding its terms of the next step's
 * product into its own vector (summed in chunk order after), so that two threads can share the step:
 * this one takes chunks from the front, a helper (Node: bidiagonal-threads.ts, installed by the CPU
 * backend) from the back, each as many as it gets to, so that a helper that starts late or runs slowly
 * (its core shared) costs at most a chunk's wait. The cut depends only on the sizes, never on who
 * runs a chunk or whether a helper is there, so every platform gets the same bits.
 */
export interface RowPassHelper {
  /** a session on a kernel whose memory is shared (null: no helper for this one) */
  attach(kernel: BidiagonalKernel, at: RowPassVectors): RowPassSession | null;
}
/** byte offsets of the matrix and vectors in the kernel's memory (wn: each chunk's), and n */
export interface RowPassVectors {
  a: number;
  w: number;
  u: number;
  wn: number[];
  n: number;
}
export interface RowPassSession {
  /** offer step k's pass, cut at rows bounds[0..CHUNKS], to the helper: a job, or 0 (not offered: this thread runs every chunk) */
  offer(k: number, tau: number, tauR: number, scale: number, bounds: Int32Array): number;
  /** the job's next chunk from the front for this thread to run, or −1 when the rest are the helper's */
  next(job: number): number;
  /** once next() said −1: wait for the helper's chunks and write their Σ a[i, k+1]² into below (throws RowPassLost if they never come) */
  finish(job: number, below: Float64Array): void;
  close(): void;
}
/** The helper took a chunk and never finished it: the bidiagonalisation starts again on this thread. */
export class RowPassLost extends Error {}

let rowPassHelper: RowPassHelper | null = null;
/** Install (or with null remove) the row pass's second thread. */
export function setRowPassHelper(helper: RowPassHelper | null): void {
  rowPassHelper = helper;
}
/** the least trailing block (rows × columns) whose pass is cut (fixed: results must not depend on the machine) */
export const SPLIT_MIN_ELEMENTS = 1 << 14;
/** the runs of rows a big step's pass is cut into */
export const CHUNKS = 8;

/** rows lo..hi−1 cut into CHUNKS runs at bounds[0..CHUNKS], each of an even length but the last (rows go in pairs) */
function cutRows(lo: number, hi: number, bounds: Int32Array): void {
  for (let c = 0; c < CHUNKS; c++) bounds[c] = lo + 2 * Math.floor((c * (hi - lo)) / (2 * CHUNKS));
  bounds[CHUNKS] = hi;
}

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

export interface BidiagonalizeOptions {
  /** false: the JavaScript loops (tests compare them with the kernel) */
  wasm?: boolean;
  /** false: no helper thread even where one is installed */
  threads?: boolean;
  /** the least trailing block whose pass is cut into chunks (default SPLIT_MIN_ELEMENTS; tests cut more steps) */
  splitMin?: number;
}

/**
 * Bidiagonalise a row-major [m, n] matrix, m ≥ n (the data is copied). The row pass runs as a
 * WebAssembly SIMD kernel where there is one (bidiagonal-wasm.ts), else as rowPassLoop;
 * `wasm: false` asks for the loop (tests compare the two).
 */
export function bidiagonalize(data: ArrayLike<number>, m: number, n: number, opts: BidiagonalizeOptions = {}): Bidiagonal {
  if (m < n) throw new Error(`bidiagonalize: needs m >= n, got [${m}, ${n}]`);
  const splitMin = opts.splitMin ?? SPLIT_MIN_ELEMENTS;
  const helper = opts.wasm === false || opts.threads === false || m * n < splitMin ? null : rowPassHelper;
  if (helper) {
    try {
      return bidiagonalizeWith(data, m, n, splitMin, 'shared', helper);
    } catch (err) {
      if (!(err instanceof RowPassLost)) throw err;
      // the helper's thread stopped mid-chunk: start again here alone (the same cut, the same bits)
    }
  }
  return bidiagonalizeWith(data, m, n, splitMin, opts.wasm === false ? 'loop' : 'plain', null);
}

function bidiagonalizeWith(data: ArrayLike<number>, m: number, n: number, splitMin: number, how: 'loop' | 'plain' | 'shared', helper: RowPassHelper | null): Bidiagonal {
  // one block: the matrix, then w, u and wNext (chunk 0's), each a run of doubles, room for
  // applyLeft's columns, then the other chunks' vectors and a double for `between` to leave e[k] in
  const partsAt = m * n + 3 * n + m * COLUMNS;
  const doubles = partsAt + (CHUNKS - 1) * n + 1;
  const kernel = how === 'loop' ? null : ((how === 'shared' ? bidiagonalKernel(8 * doubles, true) : null) ?? bidiagonalKernel(8 * doubles));
  const wn = Array.from({ length: CHUNKS }, (_, c) => 8 * (c === 0 ? m * n + 2 * n : partsAt + (c - 1) * n));
  const session = kernel && helper ? helper.attach(kernel, { a: 0, w: 8 * m * n, u: 8 * (m * n + n), wn, n }) : null;
  try {
    return bidiagonalizeIn(data, m, n, splitMin, kernel, session, partsAt);
  } finally {
    session?.close();
  }
}

function bidiagonalizeIn(data: ArrayLike<number>, m: number, n: number, splitMin: number, kernel: BidiagonalKernel | null, session: RowPassSession | null, partsAt: number): Bidiagonal {
  const block = kernel ? new Float64Array(kernel.memory.buffer, 0, m * n + 3 * n) : new Float64Array(m * n + 3 * n);
  const a = block.subarray(0, m * n);
  a.set(data);
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n - 1, 0));
  const tauL = new Float64Array(n);
  const tauR = new Float64Array(n);
  const w = block.subarray(m * n, m * n + n); // w_j = Σ_i v_i a[i, j]: the left reflector's product with the trailing rows
  const u = block.subarray(m * n + n, m * n + 2 * n); // the right reflector (u[k+1] = 1)
  const wNext = block.subarray(m * n + 2 * n); // Σ_{i > k+1} a[i, k+1] a[i, j] gathered during step k, for step k + 1 (chunk 0's terms)
  // the other chunks' terms, one vector each, and e[k] as the kernel's `between` leaves it
  const parts = kernel ? new Float64Array(kernel.memory.buffer, 8 * partsAt, (CHUNKS - 1) * n + 1) : new Float64Array((CHUNKS - 1) * n + 1);
  const out = parts.subarray((CHUNKS - 1) * n);
  const [wAt, uAt, wnAt, partsByte, outAt] = [8 * m * n, 8 * (m * n + n), 8 * (m * n + 2 * n), 8 * partsAt, 8 * (partsAt + (CHUNKS - 1) * n)];
  /** the pass of rows lo..hi−1, their terms into chunk c's vector */
  const pass = kernel
    ? (k: number, lo: number, hi: number, c: number, tau: number, tauRk: number, scale: number) =>
        kernel.pass(0, wAt, uAt, c === 0 ? wnAt : partsByte + 8 * (c - 1) * n, n, k, lo, hi, tau, tauRk, scale)
    : (k: number, lo: number, hi: number, c: number, tau: number, tauRk: number, scale: number) =>
        rowPassLoop(a, w, u, c === 0 ? wNext : parts.subarray((c - 1) * n, c * n), n, k, lo, hi, tau, tauRk, scale);
  /** the work between passes (betweenLoop): τR of step k, e[k] into out[0] */
  const betweenPasses = kernel
    ? (k: number, reduce: number, zero: number, tau: number, scale: number) => kernel.between(0, wAt, uAt, wnAt, partsByte, outAt, n, k, reduce, zero, tau, scale)
    : (k: number, reduce: number, zero: number, tau: number, scale: number) => betweenLoop(a, w, u, wNext, parts, out, n, k, reduce, zero, tau, scale);
  const bounds = new Int32Array(CHUNKS + 1);
  const below = new Float64Array(CHUNKS);

  // step 0's product and column norm, from the matrix as given (later steps get theirs from the previous pass)
  let below2 = kernel ? kernel.firstProduct(0, wnAt, n, m) : firstProductLoop(a, wNext, n, m);
  let cut = false; // the last pass was cut (its other chunks' terms are in parts)
  for (let k = 0; k < n; k++) {
    // ---- left reflector from column k, rows k..m−1 (rows below k are scaled into v_k by the pass) ----
    const alpha = a[k * n + k];
    let beta = alpha, tau = 0, scale = 1;
    if (below2 !== 0) {
      const norm = Math.sqrt(alpha * alpha + below2);
      beta = Number.isFinite(norm) && below2 >= 1e-280 ? -(alpha >= 0 ? 1 : -1) * norm : scaledBeta(alpha, a, k, m, n);
      tau = (beta - alpha) / beta;
      scale = 1 / (alpha - beta);
    }
    d[k] = beta;
    tauL[k] = tau;
    if (k === n - 1) {
      for (let i = k + 1; i < m; i++) a[i * n + k] *= scale;
      break;
    }
    // ---- w, row k, the right reflector (u, e[k], τR[k]) ----
    const k1 = k + 1;
    const cutNow = (m - k1) * (n - k1) >= splitMin;
    const tauRk = betweenPasses(k, cut ? CHUNKS - 1 : 0, cutNow ? CHUNKS - 1 : 0, tau, scale);
    e[k] = out[0];
    tauR[k] = tauRk;
    // ---- one pass over rows k+1..m−1: whole, or cut into chunks, some on the helper where it takes them ----
    if (!cutNow) below2 = pass(k, k1, m, 0, tau, tauRk, scale);
    else {
      cutRows(k1, m, bounds);
      const job = session ? session.offer(k, tau, tauRk, scale, bounds) : 0;
      if (job === 0) for (let c = 0; c < CHUNKS; c++) below[c] = pass(k, bounds[c], bounds[c + 1], c, tau, tauRk, scale);
      else {
        for (let c = session!.next(job); c >= 0; c = session!.next(job)) below[c] = pass(k, bounds[c], bounds[c + 1], c, tau, tauRk, scale);
        session!.finish(job, below);
      }
      below2 = below[0];
      for (let c = 1; c < CHUNKS; c++) below2 += below[c];
    }
    cut = cutNow;
  }
  return { m, n, d, e, a, kernel, tauL, tauR };
}

/** Step 0's wn[j] = Σ_{i≥1} a[i, 0] a[i, j] (wn zeroed; rows with a[i, 0] = 0 skipped) in row order; returns Σ_{i≥1} a[i, 0]². */
export function firstProductLoop(a: Float64Array, wn: Float64Array, n: number, m: number): number {
  let below2 = 0;
  for (let i = 1; i < m; i++) {
    const ai = a[i * n];
    below2 += ai * ai;
    if (ai !== 0) for (let j = 1; j < n; j++) wn[j] += ai * a[i * n + j];
  }
  return below2;
}

/** β of the left reflector of column k where the plain sum of squares over- or underflows: scaled by the largest entry */
function scaledBeta(alpha: number, a: Float64Array, k: number, m: number, n: number): number {
  const xs = Array.from({ length: m - k - 1 }, (_, i) => a[(k + 1 + i) * n + k]);
  const big = Math.max(Math.abs(alpha), ...xs.map(Math.abs));
  const norm = big * Math.sqrt((alpha / big) ** 2 + xs.reduce((acc, x) => acc + (x / big) ** 2, 0));
  return -(alpha >= 0 ? 1 : -1) * norm;
}

/**
 * Step k's work between two row passes (as the WebAssembly kernel's `between` does it): the first
 * `reduce` vectors of parts (the last pass's other chunks, [n] each) added into wn in chunk order,
 * w_j = a[k, j] + scale·wn[j] and row k's left update, the right reflector from the rest of row k (u,
 * and e[k] into out[0]), wn and the first `zero` vectors of parts zeroed for the next pass, all from
 * column k+1. Returns τR.
 */
export function betweenLoop(a: Float64Array, w: Float64Array, u: Float64Array, wn: Float64Array, parts: Float64Array, out: Float64Array, n: number, k: number, reduce: number, zero: number, tau: number, scale: number): number {
  const k1 = k + 1;
  const rk = k * n;
  for (let p = 0; p < reduce; p++) for (let j = k1; j < n; j++) wn[j] += parts[p * n + j];
  for (let j = k1; j < n; j++) {
    w[j] = a[rk + j] + scale * wn[j];
    a[rk + j] -= tau * w[j];
  }
  wn.fill(0, k1);
  for (let p = 0; p < zero; p++) parts.fill(0, p * n + k1, p * n + n);
  const x0 = a[rk + k1];
  let tail = 0;
  for (let j = k1 + 1; j < n; j++) tail = Math.max(tail, Math.abs(a[rk + j]));
  u.fill(0, k1);
  u[k1] = 1;
  out[0] = x0;
  if (tail === 0) return 0;
  const big = Math.max(tail, Math.abs(x0));
  let s = (x0 / big) ** 2;
  for (let j = k1 + 1; j < n; j++) s += (a[rk + j] / big) ** 2;
  const beta = -(x0 >= 0 ? 1 : -1) * big * Math.sqrt(s);
  const sc = 1 / (x0 - beta);
  for (let j = k1 + 1; j < n; j++) u[j] = a[rk + j] *= sc;
  out[0] = beta;
  return (beta - x0) / beta;
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
