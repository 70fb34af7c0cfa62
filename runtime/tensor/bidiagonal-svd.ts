// The SVD of an upper bidiagonal B (diagonal d, superdiagonal e): every singular value by the
// Golub–Kahan implicit-shift QR iteration without vectors (LINPACK dsvdc / JAMA's, O(n²)), for S read
// whole; and the singular vectors of only the columns asked for, by inverse iteration on the
// Golub–Kahan matrix TGK = [[0, Bᵀ], [B, 0]] (permuted to a tridiagonal with a zero diagonal; its
// eigenvalue σ has the eigenvector (v, u)/√2 interleaved, B v = σ u), O(n) per vector (LAPACK
// dbdsvdx's approach), at the values bisection gives for those columns (bidiagonal-bisect.ts).
// PiSSA or MiLoRA need r ≪ n columns, so an SVD costs little more than the bidiagonalisation.

import { bidiagonalValuesWasm } from './bidiagonal-values-wasm.ts';

const EPS = 2 ** -52;

/** √(a² + b²) without overflow (Math.hypot takes any number of arguments and is several times slower) */
function hypot(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  const big = x > y ? x : y;
  if (big === 0) return 0;
  const small = x > y ? y : x;
  const r = small / big;
  return big * Math.sqrt(1 + r * r);
}
const TINY = 2 ** -966;
const TWO_TO_MINUS_32 = 2 ** -32;

/**
 * B's singular values, non-negative and largest first: by the WebAssembly port of the loop below
 * (the same bits, bidiagonal-values-wasm.ts) unless `wasm` is false or WebAssembly is missing.
 */
export function bidiagonalValues(d: Float64Array, e: Float64Array, opts: { wasm?: boolean } = {}): Float64Array {
  return (opts.wasm === false ? null : bidiagonalValuesWasm(d, e)) ?? bidiagonalValuesLoop(d, e);
}

/** bidiagonalValues in JavaScript: the fallback without WebAssembly and the tests' oracle. */
export function bidiagonalValuesLoop(d: Float64Array, e: Float64Array): Float64Array {
  const n = d.length;
  const s = Float64Array.from(d);
  const f0 = new Float64Array(n); // e with a trailing 0, as the iteration reads e[p − 1]
  f0.set(e.subarray(0, Math.max(n - 1, 0)));
  const ee = f0;
  let p = n;
  const pp = p - 1;
  let sweeps = 0;
  while (p > 0) {
    if (++sweeps > 75 * n + 100) throw new Error('svd: the bidiagonal QR iteration did not converge');
    // where does the unreduced block end: a negligible e[k] (split) or a negligible s[ks] (deflate)?
    let k: number;
    for (k = p - 2; k >= 0; k--) {
      if (Math.abs(ee[k]) <= TINY + EPS * (Math.abs(s[k]) + Math.abs(s[k + 1]))) {
        ee[k] = 0;
        break;
      }
    }
    let kase: number;
    if (k === p - 2) kase = 4;
    else {
      let ks: number;
      for (ks = p - 1; ks > k; ks--) {
        const t = (ks !== p ? Math.abs(ee[ks]) : 0) + (ks !== k + 1 ? Math.abs(ee[ks - 1]) : 0);
        if (Math.abs(s[ks]) <= TINY + EPS * t) {
          s[ks] = 0;
          break;
        }
      }
      if (ks === k) kase = 3;
      else if (ks === p - 1) kase = 1;
      else {
        kase = 2;
        k = ks;
      }
    }
    k++;
    if (kase === 1) {
      // a zero at the bottom of the diagonal: chase e[p − 2] away
      let f = ee[p - 2];
      ee[p - 2] = 0;
      for (let j = p - 2; j >= k; j--) {
        const t = hypot(s[j], f);
        const cs = s[j] / t;
        const sn = f / t;
        s[j] = t;
        if (j !== k) {
          f = -sn * ee[j - 1];
          ee[j - 1] = cs * ee[j - 1];
        }
      }
    } else if (kase === 2) {
      // a zero inside the diagonal: split there
      let f = ee[k - 1];
      ee[k - 1] = 0;
      for (let j = k; j < p; j++) {
        const t = hypot(s[j], f);
        const cs = s[j] / t;
        const sn = f / t;
        s[j] = t;
        f = -sn * ee[j];
        ee[j] = cs * ee[j];
      }
    } else if (kase === 3) {
      // one implicit-shift QR sweep over s[k..p−1] (Wilkinson shift from the trailing 2×2)
      const scale = Math.max(Math.abs(s[p - 1]), Math.abs(s[p - 2]), Math.abs(ee[p - 2]), Math.abs(s[k]), Math.abs(ee[k]));
      const sp = s[p - 1] / scale;
      const spm1 = s[p - 2] / scale;
      const epm1 = ee[p - 2] / scale;
      const sk = s[k] / scale;
      const ek = ee[k] / scale;
      const b = ((spm1 + sp) * (spm1 - sp) + epm1 * epm1) / 2;
      const c = sp * epm1 * (sp * epm1);
      let shift = 0;
      if (b !== 0 || c !== 0) {
        shift = Math.sqrt(b * b + c);
        if (b < 0) shift = -shift;
        shift = c / (b + shift);
      }
      let f = (sk + sp) * (sk - sp) + shift;
      let g = sk * ek;
      for (let j = k; j < p - 1; j++) {
        let t = hypot(f, g);
        let cs = f / t;
        let sn = g / t;
        if (j !== k) ee[j - 1] = t;
        f = cs * s[j] + sn * ee[j];
        ee[j] = cs * ee[j] - sn * s[j];
        g = sn * s[j + 1];
        s[j + 1] = cs * s[j + 1];
        t = hypot(f, g);
        cs = f / t;
        sn = g / t;
        s[j] = t;
        f = cs * ee[j] + sn * s[j + 1];
        s[j + 1] = -sn * ee[j] + cs * s[j + 1];
        g = sn * ee[j + 1];
        ee[j + 1] = cs * ee[j + 1];
      }
      ee[p - 2] = f;
    } else {
      // converged: make s[k] non-negative and move it into descending order
      if (s[k] <= 0) s[k] = s[k] < 0 ? -s[k] : 0;
      while (k < pp && s[k] < s[k + 1]) {
        const t = s[k];
        s[k] = s[k + 1];
        s[k + 1] = t;
        k++;
      }
      p--;
    }
  }
  return s;
}

/** Singular pairs of B (u, v: B v = σ u, unit length) computed on demand, each once. */
export class BidiagonalVectors {
  private readonly n: number;
  /** TGK's off-diagonal: d0, e0, d1, e1, …, d(n−1) */
  private readonly c: Float64Array;
  private readonly norm: number;
  /** singular values closer than this share a cluster: their vectors are orthogonalised against each other */
  private readonly clusterGap: number;
  /** below this a singular value counts as zero (the bidiagonal's rounding level) */
  private readonly zeroTol: number;
  private readonly z: (Float64Array | undefined)[];
  private readonly pairs: ({ u: Float64Array; v: Float64Array } | undefined)[];

  constructor(
    d: Float64Array,
    e: Float64Array,
    /** B's singular values, k-th largest, computed when asked for (bidiagonal-bisect.ts) */
    private readonly sigma: { get(k: number): number; ensure(ks: Iterable<number>): void },
  ) {
    const n = (this.n = d.length);
    this.c = new Float64Array(Math.max(2 * n - 1, 0));
    let norm = 0;
    for (let i = 0; i < n; i++) {
      this.c[2 * i] = d[i];
      if (i < n - 1) this.c[2 * i + 1] = e[i];
      norm = Math.max(norm, Math.abs(d[i]) + (i < n - 1 ? Math.abs(e[i]) : 0) + (i > 0 ? Math.abs(e[i - 1]) : 0));
    }
    this.norm = norm;
    this.clusterGap = 1e-5 * norm;
    this.zeroTol = 4 * n * EPS * norm;
    this.z = new Array(n).fill(undefined);
    this.pairs = new Array(n).fill(undefined);
  }

  /** The pair for singular value k (k-th largest): u and v of length n. */
  pair(k: number): { u: Float64Array; v: Float64Array } {
    if (!this.pairs[k]) {
      // a vector is orthogonalised against the earlier members of its cluster: compute those first,
      // so that a column is the same whichever columns were asked for before
      let start = k;
      while (start > 0 && this.sigma.get(start - 1) - this.sigma.get(start) <= this.clusterGap) start--;
      for (let j = start; j <= k; j++) if (!this.z[j]) this.z[j] = this.inverseIteration(j, start);
      for (let j = start; j <= k; j++) if (!this.pairs[j]) this.pairs[j] = this.split(j, start);
    }
    const p = this.pairs[k]!;
    return { u: p.u.slice(), v: p.v.slice() };
  }

  /** v and u from TGK's eigenvector (v, u)/√2. */
  private split(k: number, clusterStart: number): { u: Float64Array; v: Float64Array } {
    const z = this.z[k]!;
    const n = this.n;
    const u = new Float64Array(n);
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      v[i] = z[2 * i];
      u[i] = z[2 * i + 1];
    }
    // σ ≈ 0: ±σ meet in TGK, whose eigenvectors there are any mix of (v, 0) and (0, u) with v, u in
    // the null spaces of B and Bᵀ, so the halves are made orthonormal on their own (the sign between
    // them hardly matters: |σ| ≤ tol)
    if (this.sigma.get(k) <= this.zeroTol) return { u: this.nullHalf(u, 'u', k), v: this.nullHalf(v, 'v', k) };
    normalise(u, k);
    normalise(v, k);
    return { u, v };
  }

  /**
   * For σ_k ≈ 0: a unit vector of half 0 (v) or 1 (u) orthogonal to that half of every other pair
   * with σ > 0 and of the earlier zero ones, i.e. in the null space of B (or Bᵀ): x where it is not
   * in their span, else the first unit vector that is not (Gram–Schmidt, twice).
   */
  private nullHalf(x: Float64Array, half: 'u' | 'v', k: number): Float64Array {
    const others: Float64Array[] = [];
    this.sigma.ensure(Array.from({ length: this.n }, (_, j) => j));
    for (let j = 0; j < this.n; j++) if (j < k || this.sigma.get(j) > this.zeroTol) others.push(this.pair(j)[half]);
    for (let t = -1; t < this.n; t++) {
      const y = t < 0 ? x.slice() : new Float64Array(this.n);
      if (t >= 0) y[t] = 1;
      const before = Math.hypot(...y);
      for (let pass = 0; pass < 2; pass++) for (const o of others) project(y, o); // twice: one pass leaves rounding along o
      if (before > 0 && Math.hypot(...y) > 0.1 * before) {
        normalise(y, k);
        return y;
      }
    }
    throw new Error('svd: no null vector found for a zero singular value');
  }

  private inverseIteration(k: number, clusterStart: number): Float64Array {
    const N = 2 * this.n;
    const shift = this.sigma.get(k);
    const tiny = Math.max(EPS * this.norm, 1e-300);
    const lu = factorShifted(this.c, shift, tiny);
    // a fixed pseudo-random start (a column must not depend on anything but the matrix)
    const x = new Float64Array(N);
    let seed = (k + 1) * 2654435761;
    for (let i = 0; i < N; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      x[i] = seed * TWO_TO_MINUS_32 - 0.5; // = seed / 2³² exactly
    }
    for (let it = 0; it < 4; it++) {
      solveShifted(lu, x);
      for (let j = clusterStart; j < k; j++) project(x, this.z[j]!);
      normalise(x, k);
    }
    return x;
  }
}

/** Unit length (scaled first: an inverse-iteration step can grow a vector by 1/ε); a vector that vanished becomes a unit vector. */
function normalise(x: Float64Array, k: number): void {
  let big = 0;
  for (let i = 0; i < x.length; i++) big = Math.max(big, Math.abs(x[i]));
  if (big === 0) {
    x[k % x.length] = 1;
    return;
  }
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const t = x[i] / big;
    s += t * t;
  }
  const inv = 1 / (big * Math.sqrt(s));
  for (let i = 0; i < x.length; i++) x[i] *= inv;
}

/** x ← x − (x·y) y for a unit y. */
function project(x: Float64Array, y: Float64Array): void {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  for (let i = 0; i < x.length; i++) x[i] -= s * y[i];
}

interface ShiftedLU {
  dd: Float64Array;
  du: Float64Array;
  du2: Float64Array;
  dl: Float64Array;
  swap: Uint8Array;
}

/** LU with partial pivoting of the symmetric tridiagonal (off-diagonal c, diagonal −shift); pivots below `tiny` are raised to it (LAPACK dgttrf, as dstein perturbs). */
function factorShifted(c: Float64Array, shift: number, tiny: number): ShiftedLU {
  const N = c.length + 1;
  const dd = new Float64Array(N).fill(-shift);
  const du = Float64Array.from(c);
  const dl = Float64Array.from(c);
  const du2 = new Float64Array(Math.max(N - 2, 0));
  const swap = new Uint8Array(Math.max(N - 1, 0));
  for (let i = 0; i < N - 1; i++) {
    if (Math.abs(dd[i]) >= Math.abs(dl[i])) {
      if (Math.abs(dd[i]) < tiny) dd[i] = dd[i] < 0 ? -tiny : tiny;
      const f = dl[i] / dd[i];
      dl[i] = f;
      dd[i + 1] -= f * du[i];
    } else {
      const f = dd[i] / dl[i];
      dd[i] = dl[i];
      dl[i] = f;
      const t = du[i];
      du[i] = dd[i + 1];
      dd[i + 1] = t - f * dd[i + 1];
      if (i < N - 2) {
        du2[i] = du[i + 1];
        du[i + 1] = -f * du[i + 1];
      }
      swap[i] = 1;
    }
  }
  if (Math.abs(dd[N - 1]) < tiny) dd[N - 1] = dd[N - 1] < 0 ? -tiny : tiny;
  return { dd, du, du2, dl, swap };
}

/** b ← (T − shift·I)⁻¹ b from the factors. */
function solveShifted({ dd, du, du2, dl, swap }: ShiftedLU, b: Float64Array): void {
  const N = dd.length;
  for (let i = 0; i < N - 1; i++) {
    if (swap[i]) {
      const t = b[i];
      b[i] = b[i + 1];
      b[i + 1] = t - dl[i] * b[i];
    } else b[i + 1] -= dl[i] * b[i];
  }
  b[N - 1] /= dd[N - 1];
  if (N > 1) b[N - 2] = (b[N - 2] - du[N - 2] * b[N - 1]) / dd[N - 2];
  for (let i = N - 3; i >= 0; i--) b[i] = (b[i] - du[i] * b[i + 1] - du2[i] * b[i + 2]) / dd[i];
}
