// Evaluation of each builtin, keyed like check/builtins.ts, written against Ops so that it both
// computes (reference interpreter) and lowers (IR building).
import type { ExprInfo } from '../check/env.ts';
import type { IndexVar } from '../check/types.ts';
import type { UnaryName } from '../../runtime/tensor/index.ts';
import type { Ops, ReduceKind, TT } from './ops.ts';
import { asTensorValue, expand, num, tv, type Value } from './values.ts';
import { unary as UNARY } from '../../runtime/tensor/index.ts';
import { fail } from '../diagnostics.ts';
import type { Span } from '../syntax/ast.ts';
import { COMPARE_MASK, select } from './masks.ts';
import type { ModeState } from './mode.ts';

export interface EvalSite {
  ops: Ops;
  args: Value[];
  info: ExprInfo;
  shape(): number[]; // the target shape of reshape/broadcast/constructors, at concrete sizes
  span?: Span;
  /** Training or evaluation, the step, random draws. */
  mode?(): ModeState;
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

/**
 * Operands of where/maximum/minimum broadcast to one shape: index axes (comprehensions) in front,
 * then info.shape, each operand's axes placed by info.maps (set by the checker).
 */
function alignedOperands({ args, info, ops, shape }: EvalSite): { ts: TT[]; idx: IndexVar[] } {
  const vs = args.map((a) => asTensorValue(a, ops));
  const idx = [...new Set(vs.flatMap((v) => v.idx))].sort((x, y) => x.depth - y.depth);
  const idxSizes = idx.map((x) => {
    const v = vs.find((w) => w.idx.includes(x))!;
    return ops.shape(v.t)[v.idx.indexOf(x)];
  });
  const out = shape();
  return { ts: vs.map((v, i) => expand(ops, v, idx, idxSizes, out, info.maps![i])), idx };
}

const kOf = (site: EvalSite, n: number): number => {
  const k = num0(site.args[1]);
  if (!(Number.isInteger(k) && k >= 1 && k <= n)) fail('E-hyper', `top-k needs 1 ≤ k ≤ ${n} (the size of the axis)`, site.span, { found: `k = ${k}` });
  return k;
};
const num0 = (v: Value) => (v.kind === 'num' ? v.v : NaN);

/** An axis position among the value's own axes, shifted past its index axes. */
const ownAxis = (site: EvalSite, v: { idx: unknown[] }) => site.info.axes![0] + v.idx.length;

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
  // Inside a comprehension (kron(A[i], B[i])) both operands are lined up on their index axes.
  kron: ({ args, ops }) => {
    const [va, vb] = args.map((x) => asTensorValue(x, ops));
    const idx = [...new Set([...va.idx, ...vb.idx])].sort((x, y) => x.depth - y.depth);
    const sizeOfIdx = (x: IndexVar) => {
      const v = va.idx.includes(x) ? va : vb;
      return ops.shape(v.t)[v.idx.indexOf(x)];
    };
    const line = (v: typeof va) => {
      const own = ops.shape(v.t).slice(v.idx.length);
      return expand(ops, v, idx, idx.map(sizeOfIdx), own, own.map((_, i) => i));
    };
    return tv(ops.kron(line(va), line(vb)), idx);
  },
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
  floor: elementwise('floor'),
  ...Object.fromEntries(
    (['svd_u', 'svd_s', 'svd_v', 'qr_q', 'qr_r'] as const).map((part): [string, Eval] => [part, ({ args: [a], ops }) => tv(ops.decompose(asTensorValue(a, ops).t, part))]),
  ),
  // concat = a placed at 0 plus b placed after it (each a pad: the transpose of a slice)
  concat: ({ args: [a, b], info, ops }) => {
    const [ta, tb] = [asTensorValue(a, ops).t, asTensorValue(b, ops).t];
    const axis = info.axes![0];
    const [na, nb] = [ops.shape(ta)[axis], ops.shape(tb)[axis]];
    return tv(ops.binary('+', ops.pad(ta, axis, 0, na + nb), ops.pad(tb, axis, na, na + nb)));
  },
  where: (site) => {
    const { ts, idx } = alignedOperands(site);
    return tv(select(site.ops, ts[0], ts[1], ts[2]), idx);
  },
  maximum: (site) => {
    const { ts: [a, b], idx } = alignedOperands(site);
    return tv(select(site.ops, COMPARE_MASK['>'](site.ops, a, b), a, b), idx);
  },
  minimum: (site) => {
    const { ts: [a, b], idx } = alignedOperands(site);
    return tv(select(site.ops, COMPARE_MASK['<'](site.ops, a, b), a, b), idx);
  },
  topk: (site) => {
    const { ops } = site;
    const v = asTensorValue(site.args[0], ops);
    const axis = ownAxis(site, v);
    return tv(ops.topk(v.t, axis, kOf(site, ops.shape(v.t)[axis])), v.idx);
  },
  // argmax = Σ_E position · [the top-1 entry]; a position carries no gradient.
  argmax: (site) => {
    const { ops } = site;
    const v = asTensorValue(site.args[0], ops);
    const axis = ownAxis(site, v);
    const s = ops.shape(v.t);
    const hot = ops.topk(ops.detach(v.t), axis, 1);
    const pos = ops.broadcastAxes(ops.iota(s[axis]), s, [axis]);
    return tv(ops.reduce('sum', ops.binary('*', hot, pos), [axis]), v.idx);
  },
  // one_hot[E](i)[…, e] = [i == e]
  one_hot: (site) => {
    const { ops } = site;
    const v = asTensorValue(site.args[0], ops);
    const s = ops.shape(v.t);
    const [n] = site.shape();
    const out = [...s, n];
    const i = ops.broadcastAxes(ops.detach(v.t), out, s.map((_, k) => k));
    return tv(COMPARE_MASK['=='](ops, i, ops.broadcastAxes(ops.iota(n), out, [s.length])), v.idx);
  },
  // Inverted dropout (as torch.nn.Dropout): keep with probability 1 − p, scale the kept by 1/(1 − p).
  dropout: (site) => {
    const { ops } = site;
    const p = num0(site.args[1]);
    if (!(p >= 0 && p < 1)) fail('E-hyper', 'the dropout probability must be at least 0 and below 1', site.span, { found: `p = ${p}` });
    const v = asTensorValue(site.args[0], ops);
    if (!site.mode!().mode.training || p === 0) return tv(v.t, v.idx);
    const s = ops.shape(v.t);
    const keep = ops.unary('heaviside', ops.binary('-', site.mode!().uniform(ops, s), ops.fill(s, p)));
    return tv(ops.binary('*', ops.binary('*', v.t, keep), ops.fill(s, 1 / (1 - p))), v.idx);
  },
  uniform: (site) => tv(site.mode!().uniform(site.ops, site.shape())),
  range: ({ shape, ops }) => tv(ops.iota(shape()[0])),
  eye: ({ shape, ops }) => tv(ops.eye(shape()[0])),
  zeros: ({ shape, ops }) => tv(ops.fill(shape(), 0)),
  ones: ({ shape, ops }) => tv(ops.fill(shape(), 1)),
};
