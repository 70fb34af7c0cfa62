// Run-time values of the reference interpreter. A tensor carries the index variables it varies
// over as leading axes, in canonical (nesting) order: the vmap of expert comprehensions.
import type { IndexVar } from '../check/types.ts';
import { broadcastAxes, reshape, scalar, transpose, type Tensor } from '../../runtime/tensor/index.ts';

export type Value = { kind: 'tensor'; t: Tensor; idx: IndexVar[] } | { kind: 'num'; v: number } | { kind: 'bool'; v: boolean };

export const tv = (t: Tensor, idx: IndexVar[] = []): Value => ({ kind: 'tensor', t, idx });
export const num = (v: number): Value => ({ kind: 'num', v });

export function asTensorValue(v: Value): { t: Tensor; idx: IndexVar[] } {
  if (v.kind === 'tensor') return v;
  if (v.kind === 'num') return { t: scalar(v.v), idx: [] };
  throw new Error('internal: a Bool used as a tensor (the checker should have refused this)');
}

export function asNumber(v: Value): number {
  if (v.kind === 'num') return v.v;
  if (v.kind === 'bool') return v.v ? 1 : 0;
  if (v.t.data.length === 1) return v.t.data[0];
  throw new Error('internal: a tensor used as a hyper-parameter');
}

export const unionIdx = (a: IndexVar[], b: IndexVar[]) => [...new Set([...a, ...b])].sort((x, y) => x.depth - y.depth);

/**
 * Expand a value to the index variables `to` (a superset, canonical order) and the output shape
 * `out`, where axisMap gives, for each of the value's own (non-index) axes, its output axis.
 */
export function expand(v: { t: Tensor; idx: IndexVar[] }, to: IndexVar[], idxSizes: number[], out: number[], axisMap: number[]): Tensor {
  const k = v.idx.length;
  const map = [...v.idx.map((x) => to.indexOf(x)), ...axisMap.map((a) => to.length + a)];
  const outShape = [...to.map((x, i) => (v.idx.includes(x) ? v.t.shape[v.idx.indexOf(x)] : idxSizes[i])), ...out];
  void k;
  return broadcastAxes(v.t, outShape, map);
}

/** Insert size-1 axes for index variables a value lacks, so NumPy broadcasting lines them up. */
export function padIdx(v: { t: Tensor; idx: IndexVar[] }, to: IndexVar[], extraBatch = 0): Tensor {
  const own = v.t.shape.slice(v.idx.length);
  const shape = [...to.map((x) => (v.idx.includes(x) ? v.t.shape[v.idx.indexOf(x)] : 1)), ...Array(extraBatch).fill(1), ...own];
  // v.idx is a subsequence of `to` in the same order, so a reshape places every axis correctly.
  return reshape(v.t, shape);
}

export { transpose };
