// Householder bidiagonalisation in float64 (the first phase of a Golub–Kahan SVD): W = Q_L B Q_Rᵀ
// with B upper bidiagonal. A 768×768 matrix takes about 1.2 GFLOP, so the loops are written for
// speed: row-major storage, and ONE pass over the trailing matrix per step that applies the left
// reflector, the right reflector and accumulates the next step's left product together, each row
// staying in L1 while it is worked on (the LAPACK dgebd2 order makes three passes).

export interface Bidiagonal {
  m: number;
  n: number;
  /** B's diagonal [n] and superdiagonal [n − 1] */
  d: Float64Array;
  e: Float64Array;
  /** The reflectors, stored in place (row-major [m, n]): left k below the diagonal of column k (v_k = 1 implied), right k right of the superdiagonal in row k. */
  a: Float64Array;
  tauL: Float64Array;
  tauR: Float64Array;
}

/** Bidiagonalise a row-major [m, n] matrix, m ≥ n (the data is copied). */
export function bidiagonalize(data: ArrayLike<number>, m: number, n: number): Bidiagonal {
  if (m < n) throw new Error(`bidiagonalize: needs m >= n, got [${m}, ${n}]`);
  const a = Float64Array.from(data);
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n - 1, 0));
  const tauL = new Float64Array(n);
  const tauR = new Float64Array(n);
  const w = new Float64Array(n); // w_j = Σ_i v_i a[i, j]: the left reflector's product with the trailing rows
  const wNext = new Float64Array(n); // Σ_{i > k+1} a[i, k+1] a[i, j] gathered during step k, for step k + 1
  const u = new Float64Array(n); // the right reflector (u[k+1] = 1)

  // step 0's product, from the matrix as given (later steps get theirs from the previous pass)
  for (let i = 1; i < m; i++) {
    const ai = a[i * n];
    if (ai !== 0) for (let j = 1; j < n; j++) wNext[j] += ai * a[i * n + j];
  }
  for (let k = 0; k < n; k++) {
    // ---- left reflector from column k, rows k..m−1 ----
    const kk = k * n + k;
    const alpha = a[kk];
    let below = 0;
    for (let i = k + 1; i < m; i++) below = Math.max(below, Math.abs(a[i * n + k]));
    let tau = 0;
    let scale = 0; // v_i = a[i, k] · scale below the diagonal
    if (below === 0) d[k] = alpha;
    else {
      const big = Math.max(below, Math.abs(alpha));
      let s = (alpha / big) ** 2;
      for (let i = k + 1; i < m; i++) s += (a[i * n + k] / big) ** 2;
      const beta = -(alpha >= 0 ? 1 : -1) * big * Math.sqrt(s);
      tau = (beta - alpha) / beta;
      scale = 1 / (alpha - beta);
      for (let i = k + 1; i < m; i++) a[i * n + k] *= scale;
      d[k] = beta;
    }
    tauL[k] = tau;
    if (k === n - 1) break;
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
    // ---- one pass over rows k+1..m−1: left update, right update, next step's product ----
    wNext.fill(0);
    const k2 = k + 2;
    for (let i = k1; i < m; i++) {
      const r = i * n;
      const tv = tau * a[r + k]; // τ v_i
      let dot = 0;
      let dot2 = 0;
      let j = k1;
      for (; j + 1 < n; j += 2) {
        const x = a[r + j] - tv * w[j];
        const y = a[r + j + 1] - tv * w[j + 1];
        a[r + j] = x;
        a[r + j + 1] = y;
        dot += x * u[j];
        dot2 += y * u[j + 1];
      }
      if (j < n) {
        const x = a[r + j] - tv * w[j];
        a[r + j] = x;
        dot += x * u[j];
      }
      const td = tauRk * (dot + dot2);
      if (td !== 0) for (let jj = k1; jj < n; jj++) a[r + jj] -= td * u[jj];
      // the next left reflector's column is k+1; its product over the rows below k+1
      if (i > k1) {
        const c = a[r + k1];
        if (c !== 0) for (let jj = k2; jj < n; jj++) wNext[jj] += c * a[r + jj];
      }
    }
  }
  return { m, n, d, e, a, tauL, tauR };
}

/** X ← Q_L X for a row-major [m, c] block of columns (B's row space in the first n rows). */
export function applyLeft(b: Bidiagonal, X: Float64Array, c: number): void {
  const { m, n, a, tauL } = b;
  const s = new Float64Array(c);
  for (let k = n - 1; k >= 0; k--) {
    const tau = tauL[k];
    if (tau === 0) continue;
    // s = vᵀ X (v_k = 1), then X −= τ v sᵀ, row by row
    for (let j = 0; j < c; j++) s[j] = X[k * c + j];
    for (let i = k + 1; i < m; i++) {
      const vi = a[i * n + k];
      if (vi !== 0) for (let j = 0; j < c; j++) s[j] += vi * X[i * c + j];
    }
    for (let j = 0; j < c; j++) s[j] *= tau;
    for (let j = 0; j < c; j++) X[k * c + j] -= s[j];
    for (let i = k + 1; i < m; i++) {
      const vi = a[i * n + k];
      if (vi !== 0) for (let j = 0; j < c; j++) X[i * c + j] -= vi * s[j];
    }
  }
}

/** X ← Q_R X for a row-major [n, c] block of columns. */
export function applyRight(b: Bidiagonal, X: Float64Array, c: number): void {
  const { n, a, tauR } = b;
  const s = new Float64Array(c);
  for (let k = n - 2; k >= 0; k--) {
    const tau = tauR[k];
    if (tau === 0) continue;
    const r = k * n;
    for (let j = 0; j < c; j++) s[j] = X[(k + 1) * c + j];
    for (let i = k + 2; i < n; i++) {
      const ui = a[r + i];
      if (ui !== 0) for (let j = 0; j < c; j++) s[j] += ui * X[i * c + j];
    }
    for (let j = 0; j < c; j++) s[j] *= tau;
    for (let j = 0; j < c; j++) X[(k + 1) * c + j] -= s[j];
    for (let i = k + 2; i < n; i++) {
      const ui = a[r + i];
      if (ui !== 0) for (let j = 0; j < c; j++) X[i * c + j] -= ui * s[j];
    }
  }
}
