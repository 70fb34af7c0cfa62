// Axis-wise selection and assembly: take, slice, concat, stack. Each views a
// tensor as [outer, axis, inner] blocks, so the copies are plain loops.

import { type Tensor, normAxis, numel, shapeEq } from './tensor.ts';

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Split a shape at `axis` into (product before, size, product after). */
function blocks(shape: readonly number[], axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis], numel(shape.slice(axis + 1))];
}

/** Select index i along axis and drop that axis. Negative i counts from the end. */
export function take(t: Tensor, axis: number, i: number): Tensor {
  const ax = normAxis(axis, t.shape.length);
  const [outer, n, inner] = blocks(t.shape, ax);
  if (!Number.isInteger(i) || i < -n || i >= n) throw new Error(`take: index ${i} out of range for size ${n}`);
  const j = i < 0 ? i + n : i;
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    out.set(t.data.subarray((o * n + j) * inner, (o * n + j + 1) * inner), o * inner);
  }
  return { shape: t.shape.filter((_, k) => k !== ax), data: out };
}

/**
 * Entries start <= k < end along axis (end defaults to the axis size).
 * Negative bounds count from the end; anything still out of [0, size] or
 * with start > end is an error rather than silently clamped.
 */
export function slice(t: Tensor, axis: number, start: number, end?: number): Tensor {
  const ax = normAxis(axis, t.shape.length);
  const [outer, n, inner] = blocks(t.shape, ax);
  const s = start < 0 ? start + n : start;
  const e = end === undefined ? n : end < 0 ? end + n : end;
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e > n || s > e) {
    throw new Error(`slice: [${start}, ${end ?? n}) invalid for axis of size ${n}`);
  }
  const len = e - s;
  const out = new Float64Array(outer * len * inner);
  for (let o = 0; o < outer; o++) {
    out.set(t.data.subarray((o * n + s) * inner, (o * n + e) * inner), o * len * inner);
  }
  const shape = [...t.shape];
  shape[ax] = len;
  return { shape, data: out };
}

/** The transpose of slice: t placed at offset lo of an axis of `size` entries, zeros elsewhere. */
export function pad(t: Tensor, axis: number, lo: number, size: number): Tensor {
  const ax = normAxis(axis, t.shape.length);
  const n = t.shape[ax];
  if (!Number.isInteger(lo) || lo < 0 || lo + n > size) throw new Error(`pad: ${n} entries at offset ${lo} do not fit ${size}`);
  const parts: Tensor[] = [];
  const zeros = (k: number): Tensor => {
    const shape = [...t.shape];
    shape[ax] = k;
    return { shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) };
  };
  if (lo > 0) parts.push(zeros(lo));
  parts.push(t);
  if (size - lo - n > 0) parts.push(zeros(size - lo - n));
  return concat(parts, ax);
}

/** Join tensors along an existing axis; all other dims must agree. */
export function concat(ts: readonly Tensor[], axis: number): Tensor {
  if (ts.length === 0) throw new Error('concat: no tensors');
  const rank = ts[0].shape.length;
  const ax = normAxis(axis, rank);
  for (const t of ts) {
    const ok = t.shape.length === rank && t.shape.every((d, k) => k === ax || d === ts[0].shape[k]);
    if (!ok) throw new Error(`concat: shape ${fmt(t.shape)} incompatible with ${fmt(ts[0].shape)} on axis ${ax}`);
  }
  const total = ts.reduce((acc, t) => acc + t.shape[ax], 0);
  const shape = [...ts[0].shape];
  shape[ax] = total;
  const [outer, , inner] = blocks(shape, ax);
  const out = new Float64Array(outer * total * inner);
  let at = 0; // running offset along the axis
  for (const t of ts) {
    const n = t.shape[ax];
    for (let o = 0; o < outer; o++) {
      out.set(t.data.subarray(o * n * inner, (o + 1) * n * inner), (o * total + at) * inner);
    }
    at += n;
  }
  return { shape, data: out };
}

/** Join equally shaped tensors along a new axis (axis may be -1 for "last"). */
export function stack(ts: readonly Tensor[], axis: number): Tensor {
  if (ts.length === 0) throw new Error('stack: no tensors');
  const base = ts[0].shape;
  for (const t of ts) {
    if (!shapeEq(t.shape, base)) throw new Error(`stack: shape ${fmt(t.shape)} differs from ${fmt(base)}`);
  }
  const ax = normAxis(axis, base.length + 1);
  const withOne = (t: Tensor): Tensor => ({ shape: [...base.slice(0, ax), 1, ...base.slice(ax)], data: t.data });
  return concat(ts.map(withOne), ax);
}
