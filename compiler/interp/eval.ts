// The interpreter: evaluates any checked expression from the AST and the checker's annotations,
// against an Ops implementation (Float64Ops: the reference interpreter, the oracle for every
// later stage; GraphOps: lowering to IR). Deliberately simple.
import type { ExprInfo } from '../check/env.ts';
import { DimError, evalDim, type Dim } from '../check/dims.ts';
import type { IndexVar } from '../check/types.ts';
import type * as A from '../syntax/ast.ts';
import { fail } from '../diagnostics.ts';
import { BUILTIN_EVAL, keepBack } from './builtins-eval.ts';
import { COMPARE_MASK } from './masks.ts';
import { ModeState } from './mode.ts';
import { ARITH, type BinaryOp, type Ops, type TT } from './ops.ts';
import { asNumber, asTensorValue, expand, num, padIdx, tv, unionIdx, type TensorValue, type Value } from './values.ts';

/** A layer with its weights, ready to call. */
export type LayerRuntime =
  | { kind: 'Linear'; W: TT; b: TT; adapter?: { form: string; call(x: Value): Value }; path?: string }
  | { kind: 'LayerNorm'; g: TT; b: TT; path?: string }
  | { kind: 'model'; copies: { call(x: Value): Value }[] };

export interface Env {
  ops: Ops;
  info: WeakMap<A.Expr, ExprInfo>;
  sizes: Map<string, number>;
  vars: Map<string, Value>;
  layers: Map<string, LayerRuntime>;
  fns: Map<string, A.FnDecl>;
  /** Training or evaluation, the step, the forward-pass random draws (absent: evaluation, step 0). */
  mode?: ModeState;
}

const infoOf = (env: Env, e: A.Expr): ExprInfo => {
  const i = env.info.get(e);
  if (!i) throw new Error(`internal: no type information for a ${e.kind} expression at ${e.span.line}:${e.span.col}`);
  return i;
};

/** A dimension's size; sizes that do not fit (In / rh not whole, ≤ 0) are reported at `span`. */
export const sizeOf = (d: Dim, env: Env, span?: A.Span, min = 1): number => {
  try {
    return evalDim(d, env.sizes, min);
  } catch (e) {
    if (e instanceof DimError && span) fail('E-size', e.message, span, { notes: [`sizes: ${[...env.sizes].map(([k, v]) => `${k}=${v}`).join(', ')}`] });
    throw e;
  }
};

const modeOf = (env: Env): ModeState => {
  if (!env.mode) throw new Error('internal: a program reading training, step or random numbers was run without a mode');
  return env.mode;
};

export function evaluate(e: A.Expr, env: Env): Value {
  const info = infoOf(env, e);
  const { ops } = env;
  switch (e.kind) {
    case 'num':
      return num(e.value);
    case 'bool':
      return { kind: 'bool', v: e.value };
    case 'var': {
      if (info.binding?.kind === 'value' && info.binding.origin === 'dim') return num(env.sizes.get(e.name)!);
      if (info.binding?.kind === 'value' && info.binding.origin === 'mode') {
        const mode = modeOf(env);
        return e.name === 'training' ? { kind: 'bool', v: mode.mode.training } : tv(mode.stepLeaf(ops));
      }
      const v = env.vars.get(e.name);
      if (!v) throw new Error(`internal: '${e.name}' has no value`);
      return v;
    }
    case 'let': {
      const value = evaluate(e.value, env);
      if (value.kind === 'tensor') ops.bind?.(e.name, value.t);
      return evaluate(e.body, { ...env, vars: new Map(env.vars).set(e.name, value) });
    }
    case 'if': {
      const c = evaluate(e.cond, env);
      return evaluate(c.kind === 'bool' && c.v ? e.then : e.else, env);
    }
    case 'unary': {
      const v = evaluate(e.operand, env);
      if (e.op === 'not') return { kind: 'bool', v: !(v as { v: boolean }).v };
      if (v.kind === 'num') return num(-v.v);
      const t = asTensorValue(v, ops);
      ops.locate?.(e.span);
      return tv(ops.binary('*', ops.fill(ops.shape(t.t), -1), t.t), t.idx);
    }
    case 'binary':
      return evalBinary(e, info, env);
    case 'index':
      return evalIndex(e, info, env);
    case 'member': {
      if (info.builtin === 'transpose') {
        const target = evaluate(e.target, env);
        ops.locate?.(e.span);
        return BUILTIN_EVAL.transpose({ ops, args: [target], info, shape: () => [] });
      }
      const layer = env.layers.get((e.target as { name: string }).name) as Record<string, TT> | undefined;
      if (!layer) throw new Error(`internal: layer '${(e.target as { name: string }).name}' has no weights`);
      return tv(layer[e.name]);
    }
    case 'call':
    case 'axisCall':
      return evalCall(e, info, env);
  }
}

const compare: Record<string, (x: number, y: number) => boolean> = {
  '==': (x, y) => x === y,
  '!=': (x, y) => x !== y,
  '<': (x, y) => x < y,
  '<=': (x, y) => x <= y,
  '>': (x, y) => x > y,
  '>=': (x, y) => x >= y,
};

function evalBinary(e: Extract<A.Expr, { kind: 'binary' }>, info: ExprInfo, env: Env): Value {
  const { ops } = env;
  const l = evaluate(e.left, env);
  if (e.op === 'and' || e.op === 'or') {
    const lv = (l as { v: boolean }).v;
    if (e.op === 'and' ? !lv : lv) return { kind: 'bool', v: lv };
    return evaluate(e.right, env);
  }
  const r = evaluate(e.right, env);
  if (compare[e.op] && l.kind !== 'tensor' && r.kind !== 'tensor') return { kind: 'bool', v: compare[e.op](asNumber(l), asNumber(r)) };
  if (l.kind === 'num' && r.kind === 'num') return num(ARITH[e.op as BinaryOp](l.v, r.v));
  ops.locate?.(e.span);
  if (e.op === '@') return matmulValues(ops, asTensorValue(l, ops), asTensorValue(r, ops));
  const a = asTensorValue(l, ops);
  const b = asTensorValue(r, ops);
  const align = info.align!;
  const idx = unionIdx(a.idx, b.idx);
  const idxSizes = idx.map((v) => sizeOf(v.range!, env, e.span));
  const out = align.out.map((d) => sizeOf(d, env, e.span));
  // a number against a tensor: the float64 interpreter applies it without expanding it
  if (ops.binaryScalar && !compare[e.op] && (l.kind === 'num') !== (r.kind === 'num')) {
    const [x, map, s, xe] = l.kind === 'num' ? [b, align.mapR, l.v, e.right] : [a, align.mapL, (r as { v: number }).v, e.left];
    const tx = expand(ops, x, idx, idxSizes, out, map);
    return tv(ops.binaryScalar(e.op as BinaryOp, tx, s, l.kind === 'num', usedOnce(xe) && tx === x.t ? tx : undefined), idx);
  }
  const [ta, tb] = [expand(ops, a, idx, idxSizes, out, align.mapL), expand(ops, b, idx, idxSizes, out, align.mapR)];
  if (compare[e.op]) return tv(COMPARE_MASK[e.op](ops, ta, tb), idx);
  const dead = usedOnce(e.right) && tb === b.t ? tb : usedOnce(e.left) && ta === a.t ? ta : undefined;
  return tv(ops.binary(e.op as BinaryOp, ta, tb, dead), idx);
}

/**
 * Whether an operand's value is a temporary that only this operation holds: the value of an
 * arithmetic subexpression is a new tensor, handed straight here (a variable's value, a member's,
 * a call's may be held elsewhere too). Unexpanded, the operation may write its result over it.
 */
const usedOnce = (operand: A.Expr): boolean => operand.kind === 'binary' && (operand.op in ARITH || operand.op === '@');

/** NumPy `@` on the values' own axes, with index axes lined up in front. */
export function matmulValues(ops: Ops, a: TensorValue, b: TensorValue): Value {
  const idx = unionIdx(a.idx, b.idx);
  const sa = ops.shape(a.t);
  const sb = ops.shape(b.t);
  const ownA = sa.length - a.idx.length;
  const ownB = sb.length - b.idx.length;
  const vecA = ownA === 1;
  const vecB = ownB === 1;
  let ta = vecA ? ops.reshape(a.t, [...sa.slice(0, -1), 1, sa[sa.length - 1]]) : a.t;
  let tb = vecB ? ops.reshape(b.t, [...sb, 1]) : b.t;
  const batchA = Math.max(ownA, 2) - 2;
  const batchB = Math.max(ownB, 2) - 2;
  const batch = Math.max(batchA, batchB);
  ta = padIdx(ops, { t: ta, idx: a.idx }, idx, batch - batchA);
  tb = padIdx(ops, { t: tb, idx: b.idx }, idx, batch - batchB);
  let out = ops.matmul(ta, tb);
  const so = ops.shape(out);
  if (vecB) out = ops.reshape(out, so.slice(0, -1));
  if (vecA) {
    const s2 = ops.shape(out);
    out = ops.reshape(out, vecB ? s2.slice(0, -1) : [...s2.slice(0, -2), s2[s2.length - 1]]);
  }
  return tv(out, idx);
}

function evalIndex(e: Extract<A.Expr, { kind: 'index' }>, info: ExprInfo, env: Env): Value {
  const { ops } = env;
  const target = asTensorValue(evaluate(e.target, env), ops);
  const k = target.idx.length;
  let t = target.t;
  const res = info.index!;
  const own = ops.shape(t).length - k;
  // Integer indices first, from the last axis back so earlier positions stay valid.
  const positions: number[] = [];
  let removed = 0;
  for (let axis = 0; axis < own; axis++) {
    if (res[axis]?.kind === 'int') {
      positions.push(-1);
      removed++;
    } else positions.push(axis - removed);
  }
  ops.locate?.(e.span);
  // Slices keep their axis, so they go first, at the original positions.
  e.items.forEach((item, axis) => {
    const r = res[axis];
    if (r?.kind !== 'slice') return;
    const [lo, hi, n] = [sizeOf(r.lo, env, item.span, 0), sizeOf(r.hi, env, item.span), ops.shape(t)[k + axis]];
    if (!(0 <= lo && lo < hi && hi <= n)) fail('E-shape', `the slice ${lo}:${hi} does not fit an axis of size ${n}`, item.span, { expected: `0 ≤ start < end ≤ ${n}` });
    t = ops.slice(t, k + axis, lo, hi);
  });
  for (let axis = own - 1; axis >= 0; axis--) {
    const r = res[axis];
    if (r?.kind === 'int') {
      const n = ops.shape(t)[k + axis];
      let i = asNumber(evaluate(r.expr, env));
      if (i < 0) i += n;
      if (!(i >= 0 && i < n)) throw new RangeError(`index ${i} is out of range for an axis of size ${n} (at ${r.expr.span.line}:${r.expr.span.col})`);
      t = ops.take(t, k + axis, i);
    }
  }
  const remaining: number[] = [];
  const newVars: { v: IndexVar; pos: number }[] = [];
  for (let axis = 0; axis < own; axis++) {
    const r = res[axis];
    if (r?.kind === 'idx') newVars.push({ v: r.v, pos: k + positions[axis] });
    else if (r?.kind !== 'int') remaining.push(k + positions[axis]);
  }
  const idx = unionIdx(target.idx, newVars.map((n) => n.v));
  const perm = idx.map((v) => (target.idx.includes(v) ? target.idx.indexOf(v) : newVars.find((n) => n.v === v)!.pos));
  return tv(ops.transpose(t, [...perm, ...remaining]), idx);
}

function evalCall(e: Extract<A.Expr, { kind: 'call' | 'axisCall' }>, info: ExprInfo, env: Env): Value {
  if (info.indexVar) return evalComprehension(e, info, env);
  const args = e.args.map((a) => evaluate(a.value, env));
  env.ops.locate?.(e.span);
  if (info.layer) return callLayer(env.ops, env.layers.get(info.layer.name)!, args[0]);
  if (info.fn) return callFunction(info.fn, args, env);
  const f = BUILTIN_EVAL[info.builtin!];
  return f({ ops: env.ops, args, info, shape: () => (info.shape ?? []).map((d) => sizeOf(d, env, e.span)), span: e.span, mode: () => modeOf(env) });
}

function evalComprehension(e: Extract<A.Expr, { kind: 'call' | 'axisCall' }>, info: ExprInfo, env: Env): Value {
  const { ops } = env;
  const v = info.indexVar!;
  const body = asTensorValue(evaluate(e.args[0].value, env), ops);
  ops.locate?.(e.span);
  const pos = body.idx.indexOf(v);
  if (pos < 0) {
    // The body does not vary with v: summing repeats it range-many times; the mean is itself.
    if (info.builtin !== 'sum') return tv(body.t, body.idx);
    const n = sizeOf(v.range!, env, e.span);
    return tv(ops.binary('*', ops.fill(ops.shape(body.t), n), body.t), body.idx);
  }
  return tv(ops.reduce(info.builtin === 'mean' ? 'mean' : 'sum', body.t, [pos]), body.idx.filter((x) => x !== v));
}

export function callLayer(ops: Ops, rt: LayerRuntime, x: Value): Value {
  const v = asTensorValue(x, ops);
  // Exporting a model: a plain layer stays one call of a module (so it can be wrapped later).
  if (ops.moduleCall && rt.kind !== 'model' && rt.path && !v.idx.length) {
    const s = ops.shape(v.t);
    return tv(ops.moduleCall(rt.kind, rt.path, v.t, rt.kind === 'Linear' ? [...s.slice(0, -1), ops.shape(rt.W)[1]] : s), v.idx);
  }
  if (rt.kind === 'Linear') {
    const y = asTensorValue(matmulValues(ops, v, { t: rt.W, idx: [] }), ops);
    const s = ops.shape(y.t);
    const out = ops.binary('+', y.t, ops.broadcastAxes(rt.b, s, [s.length - 1]));
    if (!rt.adapter) return tv(out, y.idx);
    // An adapter sees every token of the batch as one row ([B, T, In] → [B·T, In]: Lily's router
    // mean is over all of them, as in PEFT). `forward` replaces the layer's output; `delta` adds.
    const xs = ops.shape(v.t);
    const rows = xs.slice(0, -1).reduce((a, b) => a * b, 1);
    if (v.idx.length) throw new Error('internal: adapted layers inside an expert comprehension are not supported');
    const flat = xs.length === 2 ? v.t : ops.reshape(v.t, [rows, xs[xs.length - 1]]);
    const a = asTensorValue(rt.adapter.call(tv(flat)), ops);
    const d = xs.length === 2 ? a.t : ops.reshape(a.t, s);
    return tv(rt.adapter.form === 'forward' ? d : ops.binary('+', out, d), y.idx);
  }
  if (rt.kind === 'LayerNorm') {
    const s = ops.shape(v.t);
    const last = [s.length - 1];
    const mu = keepBack(ops, ops.reduce('mean', v.t, last), s, last);
    const centered = ops.binary('-', v.t, mu);
    const variance = keepBack(ops, ops.reduce('mean', ops.binary('*', centered, centered), last), s, last);
    const normed = ops.binary('*', centered, ops.unary('rsqrt', ops.binary('+', variance, ops.fill(s, 1e-5))));
    const bc = (p: TT) => ops.broadcastAxes(p, s, last);
    return tv(ops.binary('+', ops.binary('*', normed, bc(rt.g)), bc(rt.b)), v.idx);
  }
  return rt.copies.reduce((acc, c) => c.call(acc), x);
}

export function callFunction(decl: A.FnDecl, args: Value[], env: Env): Value {
  const sizes = new Map<string, number>();
  const vars = new Map<string, Value>();
  decl.params.forEach((p, i) => {
    const a = args[i];
    vars.set(p.name, a);
    if (p.type.kind === 'tensorType' && a.kind === 'tensor') {
      const own = env.ops.shape(a.t).slice(a.idx.length);
      p.type.dims.forEach((d, k) => {
        if (d.kind === 'dimName' && !sizes.has(d.name)) sizes.set(d.name, own[k]);
      });
    }
  });
  return evaluate(decl.body, { ...env, sizes, vars });
}
