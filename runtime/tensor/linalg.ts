// Matrix products and layout changes: matmul, transpose, reshape, kron, einsum.

import { type Tensor, normAxis, numel, stridesOf } from './tensor.ts';
import { broadcastAxes, broadcastShapes } from './elementwise.ts';
import { matmulWasm } from './matmul-wasm.ts';

/** M·N·K from which matmulInto calls the WebAssembly kernel */
const WASM_MIN_FLOPS = 4096;

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Permute axes: output axis j is input axis perm[j]. Default swaps the last
 * two axes; for rank < 2 the default is the identity (as NumPy's .T on 1-D).
 */
export function transpose(t: Tensor, perm?: readonly number[]): Tensor {
  const r = t.shape.length;
  if (perm === undefined) {
    const swap = Array.from({ length: r }, (_, i) => i);
    if (r >= 2) [swap[r - 2], swap[r - 1]] = [swap[r - 1], swap[r - 2]];
    perm = swap;
  }
  if (perm.length !== r) throw new Error(`transpose: perm ${fmt(perm)} for rank ${r}`);
  const p = perm.map((a) => normAxis(a, r));
  if (new Set(p).size !== r) throw new Error(`transpose: ${fmt(perm)} is not a permutation`);
  // A transpose is the expand whose axis map is the inverse permutation.
  const axisMap = new Array<number>(r);
  for (let j = 0; j < r; j++) axisMap[p[j]] = j;
  return broadcastAxes(t, p.map((a) => t.shape[a]), axisMap);
}

/** Reshape (copying). One entry may be -1, inferred from the element count. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const n = t.data.length;
  const out = [...shape];
  const hole = out.indexOf(-1);
  if (hole >= 0) {
    if (out.indexOf(-1, hole + 1) >= 0) throw new Error(`reshape: more than one -1 in ${fmt(shape)}`);
    const rest = numel(out.filter((_, i) => i !== hole));
    if (rest === 0 || n % rest !== 0) throw new Error(`reshape: cannot infer -1 in ${fmt(shape)} from ${fmt(t.shape)}`);
    out[hole] = n / rest;
  }
  if (out.some((d) => !Number.isInteger(d) || d < 0) || numel(out) !== n) {
    throw new Error(`reshape: cannot reshape ${fmt(t.shape)} (${n} elements) to ${fmt(shape)}`);
  }
  return { shape: out, data: Float64Array.from(t.data) };
}

/**
 * NumPy `@`: 1-D operands are promoted (a: [K] -> [1, K], b: [K] -> [K, 1])
 * and the promoted axis is dropped from the result; leading (batch) dims
 * broadcast. Scalars are rejected, as in NumPy.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.shape.length === 0 || b.shape.length === 0) throw new Error('matmul: scalar operand');
  const aVec = a.shape.length === 1;
  const bVec = b.shape.length === 1;
  const as = aVec ? [1, a.shape[0]] : a.shape;
  const bs = bVec ? [b.shape[0], 1] : b.shape;
  const [M, K] = as.slice(-2);
  const [K2, N] = bs.slice(-2);
  if (K !== K2) throw new Error(`matmul: shapes ${fmt(a.shape)} and ${fmt(b.shape)} do not align`);
  const batch = broadcastShapes(as.slice(0, -2), bs.slice(0, -2));
  // Materialize both operands at the full batch shape; simple, and batch sizes are small.
  const A = broadcastAxes({ shape: as, data: a.data }, [...batch, M, K], trailing(as.length, batch.length + 2));
  const B = broadcastAxes({ shape: bs, data: b.data }, [...batch, K, N], trailing(bs.length, batch.length + 2));
  const nb = numel(batch);
  const out = new Float64Array(nb * M * N);
  for (let p = 0; p < nb; p++) matmulInto(A.data, p * M * K, B.data, p * K * N, out, p * M * N, M, K, N);
  const shape = [...batch];
  if (!aVec) shape.push(M);
  if (!bVec) shape.push(N);
  return { shape, data: out };
}

/**
 * out[o + i·N + j] = Σ_k a[ao + i·K + k] · b[bo + k·N + j], each sum from 0 in increasing k (so the
 * result does not depend on the blocking): tiles of 2 rows × 4 columns in registers (eight sums; each
 * load of a or b feeds two or four of them), the output written once instead of read and written K
 * times. A strip of 4 columns is its own function: called N/4 times, V8 optimises it with full type
 * feedback (one big loop nest, entered once per matmul, kept deoptimising on paths it had not seen).
 */
export function matmulInto(a: Float64Array, ao: number, b: Float64Array, bo: number, out: Float64Array, o: number, M: number, K: number, N: number, opts: { wasm?: boolean } = {}): void {
  // the WebAssembly kernel (the same bits) where copying the operands in and out costs less than it saves
  if (opts.wasm !== false && M * N * K >= WASM_MIN_FLOPS && matmulWasm(a, ao, b, bo, out, o, M, K, N)) return;
  let j = 0;
  for (; j + 4 <= N; j += 4) columns4(a, ao, b, bo + j, out, o + j, M, K, N);
  for (; j < N; j++) {
    for (let i = 0; i < M; i++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[ao + i * K + k] * b[bo + k * N + j];
      out[o + i * N + j] = s;
    }
  }
}

/** out[o + i·N + c] for c < 4 and every row i (b and out offset to the strip's first column) */
function columns4(a: Float64Array, ao: number, b: Float64Array, bo: number, out: Float64Array, o: number, M: number, K: number, N: number): void {
  let i = 0;
  for (; i + 2 <= M; i += 2) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0; // row i
    let t0 = 0, t1 = 0, t2 = 0, t3 = 0; // row i + 1
    for (let k = 0, ai = ao + i * K, bk = bo; k < K; k++, bk += N) {
      const x = a[ai + k];
      const y = a[ai + K + k];
      const b0 = b[bk], b1 = b[bk + 1], b2 = b[bk + 2], b3 = b[bk + 3];
      s0 += x * b0; s1 += x * b1; s2 += x * b2; s3 += x * b3;
      t0 += y * b0; t1 += y * b1; t2 += y * b2; t3 += y * b3;
    }
    const oi = o + i * N;
    out[oi] = s0; out[oi + 1] = s1; out[oi + 2] = s2; out[oi + 3] = s3;
    out[oi + N] = t0; out[oi + N + 1] = t1; out[oi + N + 2] = t2; out[oi + N + 3] = t3;
  }
  if (i < M) {
    // an odd last row
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let k = 0, ai = ao + i * K, bk = bo; k < K; k++, bk += N) {
      const x = a[ai + k];
      s0 += x * b[bk]; s1 += x * b[bk + 1]; s2 += x * b[bk + 2]; s3 += x * b[bk + 3];
    }
    const oi = o + i * N;
    out[oi] = s0; out[oi + 1] = s1; out[oi + 2] = s2; out[oi + 3] = s3;
  }
}

function trailing(rank: number, outRank: number): number[] {
  return Array.from({ length: rank }, (_, i) => outRank - rank + i);
}

/** Kronecker product of 2-D tensors: out[i*p + k, j*q + l] = a[i, j] * b[k, l]. */
export function kron(a: Tensor, b: Tensor): Tensor {
  if (a.shape.length !== 2 || b.shape.length !== 2) {
    throw new Error(`kron: expected 2-D operands, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  }
  const [m, n] = a.shape;
  const [p, q] = b.shape;
  const cols = n * q;
  const out = new Float64Array(m * p * cols);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      const aij = a.data[i * n + j];
      for (let k = 0; k < p; k++)
        for (let l = 0; l < q; l++) out[(i * p + k) * cols + j * q + l] = aij * b.data[k * q + l];
    }
  return { shape: [m * p, n * q], data: out };
}

/** Parse an einsum spec into per-operand subscripts and output subscripts. */
function parseEinsum(spec: string, nOps: number): { ins: string[]; out: string } {
  const s = spec.replace(/\s+/g, '');
  if (!/^[a-zA-Z,]*(->[a-zA-Z]*)?$/.test(s)) throw new Error(`einsum: malformed spec '${spec}'`);
  const [lhs, rhs] = s.split('->');
  const ins = lhs.split(',');
  if (ins.length !== nOps) throw new Error(`einsum: spec '${spec}' names ${ins.length} operands, got ${nOps}`);
  for (const sub of ins) {
    if (new Set(sub).size !== sub.length) {
      throw new Error(`einsum: repeated index within operand '${sub}' (diagonals are not supported)`);
    }
  }
  let out: string;
  if (rhs !== undefined) {
    out = rhs;
  } else {
    // Implicit mode (NumPy): indices appearing exactly once, in alphabetical order.
    const count = new Map<string, number>();
    for (const c of ins.join('')) count.set(c, (count.get(c) ?? 0) + 1);
    out = [...count].filter(([, n]) => n === 1).map(([c]) => c).sort().join('');
  }
  if (new Set(out).size !== out.length) throw new Error(`einsum: repeated output index in '${spec}'`);
  for (const c of out) {
    if (!ins.some((sub) => sub.includes(c))) throw new Error(`einsum: output index '${c}' not in any input`);
  }
  return { ins, out };
}

/**
 * General einsum (explicit "ab,bc->ac" or implicit "ab,bc"). Indices missing
 * from the output are summed. Empty subscripts denote scalar operands
 * (",nr->nr"). Sizes of a shared index must match exactly. Loops over the
 * full index space with output indices outermost so each output entry is one
 * contiguous accumulation: O(product of all index sizes), fine for an oracle.
 */
export function einsum(spec: string, ...operands: Tensor[]): Tensor {
  const { ins, out } = parseEinsum(spec, operands.length);
  const size = new Map<string, number>();
  ins.forEach((sub, o) => {
    const shape = operands[o].shape;
    if (shape.length !== sub.length) {
      throw new Error(`einsum: operand ${o} has shape ${fmt(shape)} but subscripts '${sub}'`);
    }
    [...sub].forEach((c, i) => {
      const prev = size.get(c);
      if (prev !== undefined && prev !== shape[i]) {
        throw new Error(`einsum: index '${c}' has sizes ${prev} and ${shape[i]}`);
      }
      size.set(c, shape[i]);
    });
  });
  const summed = [...size.keys()].filter((c) => !out.includes(c));
  const letters = [...out, ...summed];
  const dims = letters.map((c) => size.get(c)!);
  // strides[o][l]: step in operand o's data when letter l advances (0 if absent).
  const strides = operands.map((t, o) => {
    const st = stridesOf(t.shape);
    return letters.map((c) => {
      const i = ins[o].indexOf(c);
      return i < 0 ? 0 : st[i];
    });
  });
  const outShape = dims.slice(0, out.length);
  const nOut = numel(outShape);
  const nSum = numel(dims.slice(out.length));
  const result = new Float64Array(nOut);
  const L = letters.length;
  const nOps = operands.length;
  const idx = new Array<number>(L).fill(0);
  const offs = new Array<number>(nOps).fill(0);
  for (let k = 0; k < nOut; k++) {
    let acc = 0;
    for (let s = 0; s < nSum; s++) {
      let prod = 1;
      for (let o = 0; o < nOps; o++) prod *= operands[o].data[offs[o]];
      acc += prod;
      // Odometer over all letters; summed letters are innermost, so the
      // output letters advance exactly when the inner sum completes.
      for (let l = L - 1; l >= 0; l--) {
        if (++idx[l] < dims[l]) {
          for (let o = 0; o < nOps; o++) offs[o] += strides[o][l];
          break;
        }
        for (let o = 0; o < nOps; o++) offs[o] -= strides[o][l] * (idx[l] - 1);
        idx[l] = 0;
      }
    }
    result[k] = acc;
  }
  return { shape: outShape, data: result };
}
