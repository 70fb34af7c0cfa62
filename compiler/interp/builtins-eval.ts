// Evaluation of each builtin, keyed like check/builtins.ts, written against Ops so that it both
// computes (reference interpreter) and lowers (IR building).
import type { ExprInfo } from '../check/env.ts';
import type { UnaryName } from '../../runtime/tensor/index.ts';
import type { Ops, ReduceKind, TT } from './ops.ts';
import { asTensorValue, num, tv, type Value } from './values.ts';
import { unary as UNARY } from '../../runtime/tensor/index.ts';

export interface EvalSite {
  ops: Ops;
  args: Value[];
  info: ExprInfo;
  shape(): number[]; // the target shape of reshape/broadcast/constructors, at concrete sizes
}

type Eval = (site: EvalSite) => Value;

const elementwise =
  (name: UnaryName): Eval =>
  ({ args: [a], ops }) => {
    if (a.kind === 'num') return num(UNARY[name].f(a.v));
    const v = asTensorValue(a, ops);
    return tv(ops.unary(name, v.t), v.idx);
  };

/** Apply a function to the value's own axes (index axes stay in front, untouched). */
const onAxes =
  (f: (ops: Ops, t: TT, axes: number[]) => TT): Eval =>
  ({ args: [a], info, ops }) => {
    const v = asTensorValue(a, ops);
    return tv(f(ops, v.t, (info.axes ?? []).map((x) => x + v.idx.length)), v.idx);
  };
const reduction = (kind: ReduceKind): Eval => onAxes((ops, t, axes) => ops.reduce(kind, t, axes));

/** Broadcast a reduced tensor back over `axes` (keepdims), for composite builtins. */
export function keepBack(ops: Ops, reduced: TT, shape: number[], axes: number[]): TT {
  const kept = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  return ops.broadcastAxes(reduced, shape, kept);
}

export const BUILTIN_EVAL: Record<string, Eval> = {
  exp: elementwise('exp'),
  log: elementwise('log'),
  sqrt: elementwise('sqrt'),
  rsqrt: elementwise('rsqrt'),
  relu: elementwise('relu'),
  gelu: elementwise('gelu'),
  tanh: elementwise('tanh'),
  sigmoid: elementwise('sigmoid'),
  silu: elementwise('silu'),
  abs: elementwise('abs'),
  square: elementwise('square'),
  sin: elementwise('sin'),
  cos: elementwise('cos'),
  softplus: elementwise('softplus'),
  recip: elementwise('recip'),
  detach: ({ args: [a], ops }) => (a.kind === 'tensor' ? tv(ops.detach(a.t), a.idx) : a),
  transpose: ({ args: [a], ops }) => {
    const v = asTensorValue(a, ops);
    const r = ops.shape(v.t).length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return tv(ops.transpose(v.t, perm), v.idx);
  },
  kron: ({ args: [a, b], ops }) => tv(ops.kron(asTensorValue(a, ops).t, asTensorValue(b, ops).t)),
  sum: reduction('sum'),
  mean: reduction('mean'),
  max: reduction('max'),
  min: reduction('min'),
  // ‖x‖ = sqrt(Σ x²)
  norm: onAxes((ops, t, axes) => ops.unary('sqrt', ops.reduce('sum', ops.binary('*', t, t), axes))),
  // logsumexp = m + log Σ exp(x − m), m = max (detached: its gradient cancels exactly)
  logsumexp: onAxes((ops, t, axes) => {
    const m = ops.detach(ops.reduce('max', t, axes));
    const shifted = ops.binary('-', t, keepBack(ops, m, ops.shape(t), axes));
    return ops.binary('+', m, ops.unary('log', ops.reduce('sum', ops.unary('exp', shifted), axes)));
  }),
  softmax: onAxes((ops, t, [axis]) => ops.softmax(t, axis)),
  log_softmax: onAxes((ops, t, [axis]) => ops.logSoftmax(t, axis)),
  reshape: ({ args: [a], shape, ops }) => {
    const v = asTensorValue(a, ops);
    return tv(ops.reshape(v.t, [...ops.shape(v.t).slice(0, v.idx.length), ...shape()]), v.idx);
  },
  broadcast: ({ args: [a], shape, ops, info }) => {
    const v = asTensorValue(a, ops);
    const s = ops.shape(v.t);
    const k = v.idx.length;
    // info.align.mapL: where each of the value's own axes lands in the target (set by the checker).
    const map = [...v.idx.keys(), ...info.align!.mapL.map((m) => k + m)];
    return tv(ops.broadcastAxes(v.t, [...s.slice(0, k), ...shape()], map), v.idx);
  },
  permute: ({ args: [a], info, ops }) => {
    const v = asTensorValue(a, ops);
    const k = v.idx.length;
    return tv(ops.transpose(v.t, [...Array(k).keys(), ...(info.perm ?? []).map((p) => p + k)]), v.idx);
  },
  // Each part is moved to its place along the axis by a product with a shifted identity
  // ([n, total], ones at (i, offset + i)): only existing primitives, so gradients and kernels follow.
  concat: ({ args, info, ops }) => {
    const [a, b] = args.map((x) => asTensorValue(x, ops).t);
    const axis = info.axes![0];
    const rank = ops.shape(a).length;
    const total = ops.shape(a)[axis] + ops.shape(b)[axis];
    const toLast = [...Array(rank).keys()].filter((i) => i !== axis).concat(axis);
    const back = [...Array(rank).keys()].map((i) => toLast.indexOf(i));
    const place = (t: TT, offset: number) => {
      const n = ops.shape(t)[axis];
      return ops.transpose(ops.matmul(ops.transpose(t, toLast), ops.eye(n, total, offset)), back);
    };
    return tv(ops.binary('+', place(a, 0), place(b, ops.shape(a)[axis])));
  },
  eye: ({ shape, ops }) => tv(ops.eye(shape()[0])),
  zeros: ({ shape, ops }) => tv(ops.fill(shape(), 0)),
  ones: ({ shape, ops }) => tv(ops.fill(shape(), 1)),
};
