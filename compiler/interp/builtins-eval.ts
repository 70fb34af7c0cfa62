// Evaluation of each builtin in the reference interpreter (float64), keyed like check/builtins.ts.
import type { ExprInfo } from '../check/env.ts';
import * as T from '../../runtime/tensor/index.ts';
import { asTensorValue, num, tv, type Value } from './values.ts';

export interface EvalSite {
  args: Value[];
  info: ExprInfo;
  shape(): number[]; // the target shape of reshape/broadcast/constructors, at concrete sizes
}

type Eval = (site: EvalSite) => Value;

const elementwise =
  (name: keyof typeof T.unary): Eval =>
  ({ args: [a] }) => {
    const f = T.unary[name].f;
    if (a.kind === 'num') return num(f(a.v));
    const v = asTensorValue(a);
    return tv(T.map(v.t, f), v.idx);
  };

/** Apply a tensor function to the value's own axes (index axes stay in front, untouched). */
const onAxes =
  (f: (t: T.Tensor, axes: number[]) => T.Tensor): Eval =>
  ({ args: [a], info }) => {
    const v = asTensorValue(a);
    return tv(f(v.t, (info.axes ?? []).map((x) => x + v.idx.length)), v.idx);
  };

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
  detach: ({ args: [a] }) => a,
  transpose: ({ args: [a] }) => {
    const v = asTensorValue(a);
    const r = v.t.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return tv(T.transpose(v.t, perm), v.idx);
  },
  kron: ({ args: [a, b] }) => tv(T.kron(asTensorValue(a).t, asTensorValue(b).t)),
  sum: onAxes((t, axes) => T.sum(t, axes)),
  mean: onAxes((t, axes) => T.mean(t, axes)),
  max: onAxes((t, axes) => T.max(t, axes)),
  min: onAxes((t, axes) => T.min(t, axes)),
  norm: onAxes((t, axes) => T.norm(t, axes)),
  logsumexp: onAxes((t, axes) => T.logsumexp(t, axes)),
  softmax: onAxes((t, [axis]) => T.softmax(t, axis)),
  log_softmax: onAxes((t, [axis]) => T.logSoftmax(t, axis)),
  reshape: ({ args: [a], shape }) => {
    const v = asTensorValue(a);
    return tv(T.reshape(v.t, [...v.t.shape.slice(0, v.idx.length), ...shape()]), v.idx);
  },
  broadcast: ({ args: [a], shape }) => {
    const v = asTensorValue(a);
    const own = v.t.shape.length - v.idx.length;
    const target = shape();
    const map = [...v.idx.keys(), ...Array.from({ length: own }, (_, i) => v.idx.length + target.length - own + i)];
    return tv(T.broadcastAxes(v.t, [...v.t.shape.slice(0, v.idx.length), ...target], map), v.idx);
  },
  permute: ({ args: [a], info }) => {
    const v = asTensorValue(a);
    const k = v.idx.length;
    return tv(T.transpose(v.t, [...Array(k).keys(), ...(info.perm ?? []).map((p) => p + k)]), v.idx);
  },
  eye: ({ shape }) => {
    const [n] = shape();
    const t = T.zeros([n, n]);
    for (let i = 0; i < n; i++) t.data[i * n + i] = 1;
    return tv(t);
  },
  zeros: ({ shape }) => tv(T.zeros(shape())),
  ones: ({ shape }) => tv(T.full(shape(), 1)),
};
