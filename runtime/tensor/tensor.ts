// Core float64 tensor type and constructors. This library is the numerical
// oracle for the interpreter and the IR, so everything is plain, row-major,
// contiguous Float64Array data with no views or lazy strides to reason about.

export interface Tensor {
  shape: number[];
  data: Float64Array;
}

/** A (possibly ragged-checked) nested array of numbers; a bare number is a scalar. */
export type Nested = number | Nested[];

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides (in elements). The last axis has stride 1. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
  }
}

/** Build a tensor; data is copied (so callers can never alias our storage) or zero-filled. */
export function tensor(shape: readonly number[], data?: ArrayLike<number>): Tensor {
  checkShape(shape);
  const n = numel(shape);
  if (data === undefined) return { shape: [...shape], data: new Float64Array(n) };
  if (data.length !== n) {
    throw new Error(`tensor: shape [${shape.join(', ')}] needs ${n} elements, got ${data.length}`);
  }
  return { shape: [...shape], data: Float64Array.from(data) };
}

export function scalar(v: number): Tensor {
  return { shape: [], data: Float64Array.of(v) };
}

export function zeros(shape: readonly number[]): Tensor {
  return tensor(shape);
}

export function full(shape: readonly number[], v: number): Tensor {
  const t = tensor(shape);
  t.data.fill(v);
  return t;
}

export function shapeEq(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Infer the shape from nested arrays (rejecting ragged input) and flatten row-major. */
export function fromNested(nested: Nested): Tensor {
  const shape: number[] = [];
  let cur: Nested = nested;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  const out: number[] = [];
  const walk = (x: Nested, depth: number): void => {
    if (depth === shape.length) {
      if (typeof x !== 'number') throw new Error('fromNested: ragged array (too deep)');
      out.push(x);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) {
      throw new Error(`fromNested: ragged array at depth ${depth}`);
    }
    for (const y of x) walk(y, depth + 1);
  };
  walk(nested, 0);
  return tensor(shape, out);
}

export function toNested(t: Tensor): Nested {
  const strides = stridesOf(t.shape);
  const build = (axis: number, offset: number): Nested => {
    if (axis === t.shape.length) return t.data[offset];
    const res: Nested[] = [];
    for (let i = 0; i < t.shape[axis]; i++) res.push(build(axis + 1, offset + i * strides[axis]));
    return res;
  };
  return build(0, 0);
}

/** Normalize a possibly negative axis against a rank, throwing when out of range. */
export function normAxis(axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(`axis ${axis} out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Unravel a flat row-major offset into a multi-index. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i];
    idx[i] = d === 0 ? 0 : flat % d;
    flat = d === 0 ? 0 : Math.floor(flat / d);
  }
  return idx;
}

export interface CloseResult {
  ok: boolean;
  /** Largest |a - b| over all entries. */
  maxAbs: number;
  /** Largest |a - b| / |b| over all entries (b is the reference; Infinity when b = 0 and a != b). */
  maxRel: number;
  /**
   * Multi-index of the worst differing entry, ranked by excess over the
   * tolerance |a-b| - (atol + rtol|b|). Absent when a and b are identical.
   */
  index?: number[];
}

/**
 * NumPy-style closeness: |a - b| <= atol + rtol * |b| elementwise, with b the
 * reference. Shapes must match exactly (no broadcasting: an oracle comparison
 * that silently broadcasts would hide shape bugs). NaNs compare equal only to
 * NaNs in the same position, and infinities only to the same infinity.
 */
export function allClose(
  a: Tensor,
  b: Tensor,
  opts: { rtol?: number; atol?: number } = {},
): CloseResult {
  const rtol = opts.rtol ?? 1e-9;
  const atol = opts.atol ?? 1e-12;
  if (!shapeEq(a.shape, b.shape)) {
    return { ok: false, maxAbs: Infinity, maxRel: Infinity };
  }
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -Infinity;
  let worstAt = -1;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i];
    const y = b.data[i];
    let diff: number;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) diff = 0;
    else if (Number.isNaN(x) || Number.isNaN(y) || !Number.isFinite(x) || !Number.isFinite(y)) diff = Infinity;
    else diff = Math.abs(x - y);
    const rel = diff === 0 ? 0 : diff / Math.abs(y);
    if (diff > maxAbs) maxAbs = diff;
    if (rel > maxRel) maxRel = rel;
    if (diff === 0) continue;
    const excess = diff === Infinity ? Infinity : diff - (atol + rtol * Math.abs(y));
    if (excess > worst) {
      worst = excess;
      worstAt = i;
    }
  }
  const ok = !(worst > 0);
  const res: CloseResult = { ok, maxAbs, maxRel };
  if (worstAt >= 0) res.index = unravel(worstAt, a.shape);
  return res;
}
