// Reductions over axes, plus the reductions-with-a-twist (softmax,
// logsumexp, norm, variance) written in their numerically stable forms.

import { type Tensor, normAxis, numel, stridesOf } from './tensor.ts';
import { map, zipWith } from './elementwise.ts';

/** One axis, a list of axes (possibly empty: no reduction), or undefined for all axes. */
export type Axes = number | readonly number[] | undefined;

/** Normalize axes to a sorted list of distinct non-negative axes. */
export function normAxes(axes: Axes, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = (typeof axes === 'number' ? [axes] : axes).map((a) => normAxis(a, rank));
  if (new Set(list).size !== list.length) throw new Error(`duplicate axes [${list.join(', ')}]`);
  return list.sort((x, y) => x - y);
}

/** Output shape of a reduction: reduced axes dropped, or kept as size 1. */
function reducedShape(shape: readonly number[], axes: readonly number[], keepdims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

/**
 * Generic fold over `axes`: every output entry starts at `init` and absorbs
 * its input entries with `step`, in row-major order of the input.
 */
export function reduce(
  t: Tensor,
  axes: Axes,
  init: number,
  step: (acc: number, x: number) => number,
  keepdims = false,
): Tensor {
  const rank = t.shape.length;
  const ax = normAxes(axes, rank);
  const keptShape = reducedShape(t.shape, ax, true);
  const out = new Float64Array(numel(keptShape)).fill(init);
  // Output offset as a function of the input index: stride 0 along reduced axes.
  const ks = stridesOf(keptShape);
  const os = t.shape.map((_, i) => (ax.includes(i) ? 0 : ks[i]));
  const idx = new Array<number>(rank).fill(0);
  let o = 0;
  const n = t.data.length;
  for (let k = 0; k < n; k++) {
    out[o] = step(out[o], t.data[k]);
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < t.shape[a]) {
        o += os[a];
        break;
      }
      o -= os[a] * (idx[a] - 1);
      idx[a] = 0;
    }
  }
  return { shape: reducedShape(t.shape, ax, keepdims), data: out };
}

/** Number of input entries folded into each output entry. */
function count(t: Tensor, axes: Axes): number {
  return numel(normAxes(axes, t.shape.length).map((a) => t.shape[a]));
}

export function sum(t: Tensor, axes?: Axes, keepdims = false): Tensor {
  return reduce(t, axes, 0, (acc, x) => acc + x, keepdims);
}

export function prod(t: Tensor, axes?: Axes, keepdims = false): Tensor {
  return reduce(t, axes, 1, (acc, x) => acc * x, keepdims);
}

/** Mean; an empty reduction gives NaN (0/0), as NumPy does. */
export function mean(t: Tensor, axes?: Axes, keepdims = false): Tensor {
  const n = count(t, axes);
  return map(sum(t, axes, keepdims), (s) => s / n);
}

// max/min propagate NaN (Math.max does), and refuse empty reductions as NumPy does.
export function max(t: Tensor, axes?: Axes, keepdims = false): Tensor {
  if (count(t, axes) === 0) throw new Error('max: empty reduction');
  return reduce(t, axes, -Infinity, Math.max, keepdims);
}

export function min(t: Tensor, axes?: Axes, keepdims = false): Tensor {
  if (count(t, axes) === 0) throw new Error('min: empty reduction');
  return reduce(t, axes, Infinity, Math.min, keepdims);
}

/** Max with non-finite entries replaced by 0: the safe shift for exp-sums (as SciPy does). */
function safeShift(t: Tensor, axes: Axes): Tensor {
  return map(max(t, axes, true), (m) => (Number.isFinite(m) ? m : 0));
}

/** log(sum(exp(x))) over axes, computed as m + log(sum(exp(x - m))). */
export function logsumexp(t: Tensor, axes?: Axes, keepdims = false): Tensor {
  const m = safeShift(t, axes);
  const s = sum(zipWith(t, m, (x, mm) => Math.exp(x - mm)), axes, true);
  const r = zipWith(s, m, (ss, mm) => mm + Math.log(ss));
  return keepdims ? r : { shape: reducedShape(t.shape, normAxes(axes, t.shape.length), false), data: r.data };
}

/** Softmax along one axis (default last), shifted by the max so exp never overflows. */
export function softmax(t: Tensor, axis = -1): Tensor {
  const m = safeShift(t, axis);
  const e = zipWith(t, m, (x, mm) => Math.exp(x - mm));
  return zipWith(e, sum(e, axis, true), (x, s) => x / s);
}

/** log-softmax along one axis: x - logsumexp(x). */
export function logSoftmax(t: Tensor, axis = -1): Tensor {
  return zipWith(t, logsumexp(t, axis, true), (x, l) => x - l);
}

/** L2 norm over axes (all by default): sqrt(sum(x^2)). */
export function norm(t: Tensor, axes?: Axes, keepdims = false): Tensor {
  return map(reduce(t, axes, 0, (acc, x) => acc + x * x, keepdims), Math.sqrt);
}

/**
 * Variance over axes, two-pass (mean first, then mean squared deviation) to
 * avoid the cancellation of E[x^2] - E[x]^2. `correction` is the divisor
 * offset: 0 (default) is the population variance, as NumPy's default and as
 * layer norm uses; 1 is PyTorch's default unbiased estimate.
 */
export function variance(t: Tensor, axes?: Axes, keepdims = false, correction = 0): Tensor {
  const n = count(t, axes);
  const mu = mean(t, axes, true);
  const sq = zipWith(t, mu, (x, m) => (x - m) * (x - m));
  return map(sum(sq, axes, keepdims), (s) => s / (n - correction));
}

/**
 * The largest value of an array (−∞ when empty), |value| with `abs`. A loop: `Math.max(...xs)`
 * passes every element as an argument and overflows the stack past ~10⁵ of them.
 */
export function largest(xs: ArrayLike<number>, abs = false): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < xs.length; i++) {
    const v = abs ? Math.abs(xs[i]) : xs[i];
    if (v > m || Number.isNaN(v)) m = v;
    if (Number.isNaN(m)) return m;
  }
  return m;
}

/**
 * How many rows of `y` (rows × classes, row-major) have their first largest entry at `labels[from + row]`
 * (a row holding NaN counts as wrong). A loop per row, never `Math.max(...row)`.
 */
export function countCorrect(y: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }, classes: number, labels: ArrayLike<number>, from = 0): number {
  let right = 0;
  for (let r = 0; r * classes < y.length; r++) {
    const row = y.subarray(r * classes, (r + 1) * classes);
    let best = Number.isNaN(row[0]) ? -1 : 0;
    for (let k = 1; k < classes && best >= 0; k++) {
      if (Number.isNaN(row[k])) best = -1;
      else if (row[k] > row[best]) best = k;
    }
    if (best >= 0 && best === labels[from + r]) right++;
  }
  return right;
}
