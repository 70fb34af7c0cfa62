// Run-time values of the interpreter. A tensor carries the index variables it varies over as
// leading axes, in canonical (nesting) order: the vmap of expert comprehensions.
import type { IndexVar } from '../check/types.ts';
import type { Ops, TT } from './ops.ts';

export type Value = { kind: 'tensor'; t: TT; idx: IndexVar[] } | { kind: 'num'; v: number } | { kind: 'bool'; v: boolean };
export type TensorValue = { t: TT; idx: IndexVar[] };

export const tv = (t: TT, idx: IndexVar[] = []): Value => ({ kind: 'tensor', t, idx });
export const num = (v: number): Value => ({ kind: 'num', v });

export function asTensorValue(v: Value, ops: Ops): TensorValue {
  if (v.kind === 'tensor') return v;
  if (v.kind === 'num') return { t: ops.scalar(v.v), idx: [] };
  throw new Error('internal: a Bool used as a tensor (the checker should have refused this)');
}

export function asNumber(v: Value): number {
  if (v.kind === 'num') return v.v;
  if (v.kind === 'bool') return v.v ? 1 : 0;
  throw new Error('internal: a tensor used as a hyper-parameter');
}

export const unionIdx = (a: IndexVar[], b: IndexVar[]) => [...new Set([...a, ...b])].sort((x, y) => x.depth - y.depth);

/**
 * Expand a value to the index variables `to` (a superset, canonical order) and the output shape
 * `out`, where axisMap gives, for each of the value's own (non-index) axes, its output axis.
 */
export function expand(ops: Ops, v: TensorValue, to: IndexVar[], idxSizes: number[], out: number[], axisMap: number[]): TT {
  const shape = ops.shape(v.t);
  const map = [...v.idx.map((x) => to.indexOf(x)), ...axisMap.map((a) => to.length + a)];
  const outShape = [...to.map((x, i) => (v.idx.includes(x) ? shape[v.idx.indexOf(x)] : idxSizes[i])), ...out];
  return ops.broadcastAxes(v.t, outShape, map);
}

/** Insert size-1 axes for index variables a value lacks (and batch padding) so NumPy rules line them up. */
export function padIdx(ops: Ops, v: TensorValue, to: IndexVar[], extraBatch = 0): TT {
  const s = ops.shape(v.t);
  const own = s.slice(v.idx.length);
  const shape = [...to.map((x) => (v.idx.includes(x) ? s[v.idx.indexOf(x)] : 1)), ...Array(extraBatch).fill(1), ...own];
  // v.idx is a subsequence of `to` in the same order, so a reshape places every axis correctly.
  return ops.reshape(v.t, shape);
}
