// Elementwise maps and broadcasting. Broadcasting is implemented once, as
// "strides in output coordinates" (stride 0 along expanded axes), so that
// positional (NumPy) and by-name (axisMap) broadcasting share one loop.

import { type Tensor, numel, stridesOf, shapeEq } from './tensor.ts';

export function map(t: Tensor, f: (x: number) => number): Tensor {
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(t.data[i]);
  return { shape: [...t.shape], data: out };
}

/** NumPy broadcast of two shapes: align trailing axes; each pair must be equal or contain a 1. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`cannot broadcast [${a.join(', ')}] with [${b.join(', ')}]`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides of `t` expressed in the coordinates of `outShape`: input axis i
 * lands on output axis axisMap[i]; output axes not hit, and axes where the
 * input has size 1, get stride 0 (the value is repeated).
 */
function expandedStrides(t: Tensor, outShape: readonly number[], axisMap: readonly number[]): number[] {
  if (axisMap.length !== t.shape.length) {
    throw new Error(`axisMap has ${axisMap.length} entries for a rank-${t.shape.length} tensor`);
  }
  const inStrides = stridesOf(t.shape);
  const out = new Array<number>(outShape.length).fill(0);
  const seen = new Set<number>();
  for (let i = 0; i < axisMap.length; i++) {
    const o = axisMap[i];
    if (!Number.isInteger(o) || o < 0 || o >= outShape.length || seen.has(o)) {
      throw new Error(`axisMap [${axisMap.join(', ')}] is not an injective map into rank ${outShape.length}`);
    }
    seen.add(o);
    const d = t.shape[i];
    if (d !== outShape[o] && d !== 1) {
      throw new Error(`cannot expand axis ${i} of size ${d} to size ${outShape[o]}`);
    }
    out[o] = d === 1 ? 0 : inStrides[i];
  }
  return out;
}

/** Materialize a strided view (strides in output coordinates) as a contiguous tensor. */
function gather(src: Float64Array, outShape: readonly number[], strides: readonly number[]): Tensor {
  const n = numel(outShape);
  const out = new Float64Array(n);
  const rank = outShape.length;
  if (rank === 0 || n === 0) {
    if (n) out[0] = src[0];
    return { shape: [...outShape], data: out };
  }
  // runs along the last axis in a plain loop (a broadcast scalar or row is a fill or a copy)
  const len = outShape[rank - 1];
  const step = strides[rank - 1];
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let k = 0; k < n; k += len) {
    if (step === 0) out.fill(src[off], k, k + len);
    else if (step === 1) out.set(src.subarray(off, off + len), k);
    else for (let j = 0, o = off; j < len; j++, o += step) out[k + j] = src[o];
    // Odometer increment over the other axes, keeping `off` in sync without re-multiplying.
    for (let ax = rank - 2; ax >= 0; ax--) {
      if (++idx[ax] < outShape[ax]) {
        off += strides[ax];
        break;
      }
      off -= strides[ax] * (idx[ax] - 1);
      idx[ax] = 0;
    }
  }
  return { shape: [...outShape], data: out };
}

/**
 * General expand: input axis i maps to output axis axisMap[i]; every other
 * output axis is new. Used for broadcasting aligned by name rather than by
 * position. The map need only be injective, so it may also permute axes.
 */
export function broadcastAxes(t: Tensor, outShape: readonly number[], axisMap: readonly number[]): Tensor {
  return gather(t.data, outShape, expandedStrides(t, outShape, axisMap));
}

/** Positional axis map for NumPy broadcasting of a rank-r tensor into rank R: trailing alignment. */
function trailingMap(rank: number, outRank: number): number[] {
  if (rank > outRank) throw new Error(`cannot broadcast rank ${rank} to rank ${outRank}`);
  return Array.from({ length: rank }, (_, i) => outRank - rank + i);
}

export function broadcastTo(t: Tensor, shape: readonly number[]): Tensor {
  return broadcastAxes(t, shape, trailingMap(t.shape.length, shape.length));
}

/**
 * Binary elementwise op with NumPy broadcasting. `into`: an array to write into, of the result's
 * length; it may be the values of an operand of the result's shape (each read before it is written).
 */
export function zipWith(a: Tensor, b: Tensor, f: (x: number, y: number) => number, into?: Float64Array): Tensor {
  if (shapeEq(a.shape, b.shape)) {
    // Fast path: no index arithmetic needed.
    const out = into ?? new Float64Array(a.data.length);
    for (let i = 0; i < out.length; i++) out[i] = f(a.data[i], b.data[i]);
    return { shape: [...a.shape], data: out };
  }
  const shape = broadcastShapes(a.shape, b.shape);
  const R = shape.length;
  const sa = expandedStrides(a, shape, trailingMap(a.shape.length, R));
  const sb = expandedStrides(b, shape, trailingMap(b.shape.length, R));
  const n = numel(shape);
  const out = into ?? new Float64Array(n);
  const idx = new Array<number>(R).fill(0);
  let oa = 0;
  let ob = 0;
  for (let k = 0; k < n; k++) {
    out[k] = f(a.data[oa], b.data[ob]);
    for (let ax = R - 1; ax >= 0; ax--) {
      if (++idx[ax] < shape[ax]) {
        oa += sa[ax];
        ob += sb[ax];
        break;
      }
      oa -= sa[ax] * (idx[ax] - 1);
      ob -= sb[ax] * (idx[ax] - 1);
      idx[ax] = 0;
    }
  }
  return { shape, data: out };
}

// Convenience arithmetic, so callers need not spell out lambdas for the basics.
export const add = (a: Tensor, b: Tensor): Tensor => zipWith(a, b, (x, y) => x + y);
export const sub = (a: Tensor, b: Tensor): Tensor => zipWith(a, b, (x, y) => x - y);
export const mul = (a: Tensor, b: Tensor): Tensor => zipWith(a, b, (x, y) => x * y);
export const div = (a: Tensor, b: Tensor): Tensor => zipWith(a, b, (x, y) => x / y);
export const pow = (a: Tensor, b: Tensor): Tensor => zipWith(a, b, (x, y) => x ** y);
export const maximum = (a: Tensor, b: Tensor): Tensor => zipWith(a, b, (x, y) => Math.max(x, y));
export const minimum = (a: Tensor, b: Tensor): Tensor => zipWith(a, b, (x, y) => Math.min(x, y));

export type ArithOp = '+' | '-' | '*' | '/' | '**';

/** The loops of one arithmetic op: tensor ∘ tensor (equal lengths), tensor ∘ scalar, scalar ∘ tensor. */
interface ArithLoops {
  vv(a: Float64Array, b: Float64Array, out: Float64Array): void;
  vs(a: Float64Array, s: number, out: Float64Array): void;
  sv(s: number, b: Float64Array, out: Float64Array): void;
}

// One loop per op and operand kind, the op written inline: a closure called per element (zipWith)
// is a megamorphic call that V8 cannot inline, several times slower on a 768×768 weight.
const ARITH_LOOPS: Record<ArithOp, ArithLoops> = {
  '+': {
    vv: (a, b, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] + b[i]; },
    vs: (a, s, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] + s; },
    sv: (s, b, o) => { for (let i = 0; i < o.length; i++) o[i] = s + b[i]; },
  },
  '-': {
    vv: (a, b, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] - b[i]; },
    vs: (a, s, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] - s; },
    sv: (s, b, o) => { for (let i = 0; i < o.length; i++) o[i] = s - b[i]; },
  },
  '*': {
    vv: (a, b, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] * b[i]; },
    vs: (a, s, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] * s; },
    sv: (s, b, o) => { for (let i = 0; i < o.length; i++) o[i] = s * b[i]; },
  },
  '/': {
    vv: (a, b, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] / b[i]; },
    vs: (a, s, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] / s; },
    sv: (s, b, o) => { for (let i = 0; i < o.length; i++) o[i] = s / b[i]; },
  },
  '**': {
    vv: (a, b, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] ** b[i]; },
    vs: (a, s, o) => { for (let i = 0; i < o.length; i++) o[i] = a[i] ** s; },
    sv: (s, b, o) => { for (let i = 0; i < o.length; i++) o[i] = s ** b[i]; },
  },
};

/**
 * a ∘ b for an arithmetic op, with NumPy broadcasting (equal shapes and one-element operands take a plain loop).
 * `into`: a or b itself, when its caller holds the only reference to it (a temporary): the result is
 * then written over its values (each read before it is written: the same numbers) instead of into a
 * new array, where it has the result's shape; else a new array is made.
 */
export function arith(op: ArithOp, a: Tensor, b: Tensor, into?: Tensor): Tensor {
  const loops = ARITH_LOOPS[op];
  const target = (shape: readonly number[], n: number): Float64Array =>
    into && (into === a || into === b) && into.data.length === n && shapeEq(into.shape, shape) ? into.data : new Float64Array(n);
  if (shapeEq(a.shape, b.shape)) {
    const out = target(a.shape, a.data.length);
    loops.vv(a.data, b.data, out);
    return { shape: [...a.shape], data: out };
  }
  const shape = broadcastShapes(a.shape, b.shape);
  const n = numel(shape);
  if (b.data.length === 1 && a.data.length === n) {
    const out = target(shape, n);
    loops.vs(a.data, b.data[0], out);
    return { shape, data: out };
  }
  if (a.data.length === 1 && b.data.length === n) {
    const out = target(shape, n);
    loops.sv(a.data[0], b.data, out);
    return { shape, data: out };
  }
  return zipWith(a, b, ARITH_SCALAR[op], target(shape, n));
}

const ARITH_SCALAR: Record<ArithOp, (x: number, y: number) => number> = {
  '+': (x, y) => x + y,
  '-': (x, y) => x - y,
  '*': (x, y) => x * y,
  '/': (x, y) => x / y,
  '**': (x, y) => x ** y,
};
