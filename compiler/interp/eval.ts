// The reference interpreter: evaluates any checked expression in float64, directly from the AST
// and the checker's annotations. It is deliberately simple: it is the oracle for every later stage.
import type { ExprInfo, LayerInfo } from '../check/env.ts';
import { evalDim, type Dim } from '../check/dims.ts';
import type { IndexVar } from '../check/types.ts';
import type * as A from '../syntax/ast.ts';
import * as T from '../../runtime/tensor/index.ts';
import { BUILTIN_EVAL } from './builtins-eval.ts';
import { asNumber, asTensorValue, expand, num, padIdx, tv, unionIdx, type Value } from './values.ts';

/** A layer with its weights, ready to call. */
export type LayerRuntime =
  | { kind: 'Linear'; W: T.Tensor; b: T.Tensor }
  | { kind: 'LayerNorm'; g: T.Tensor; b: T.Tensor }
  | { kind: 'model'; copies: { call(x: Value): Value }[] };

export interface Env {
  info: WeakMap<A.Expr, ExprInfo>;
  sizes: Map<string, number>;
  vars: Map<string, Value>;
  layers: Map<string, LayerRuntime>;
  fns: Map<string, A.FnDecl>;
}

const infoOf = (env: Env, e: A.Expr): ExprInfo => {
  const i = env.info.get(e);
  if (!i) throw new Error(`internal: no type information for a ${e.kind} expression at ${e.span.line}:${e.span.col}`);
  return i;
};

export const sizeOf = (d: Dim, env: Env) => evalDim(d, env.sizes);

export function evaluate(e: A.Expr, env: Env): Value {
  const info = infoOf(env, e);
  switch (e.kind) {
    case 'num':
      return num(e.value);
    case 'bool':
      return { kind: 'bool', v: e.value };
    case 'var': {
      if (info.binding?.kind === 'value' && info.binding.origin === 'dim') return num(env.sizes.get(e.name)!);
      const v = env.vars.get(e.name);
      if (!v) throw new Error(`internal: '${e.name}' has no value`);
      return v;
    }
    case 'let':
      return evaluate(e.body, { ...env, vars: new Map(env.vars).set(e.name, evaluate(e.value, env)) });
    case 'if': {
      const c = evaluate(e.cond, env);
      return evaluate(c.kind === 'bool' && c.v ? e.then : e.else, env);
    }
    case 'unary': {
      const v = evaluate(e.operand, env);
      if (e.op === 'not') return { kind: 'bool', v: !(v as { v: boolean }).v };
      if (v.kind === 'num') return num(-v.v);
      const t = asTensorValue(v);
      return tv(T.map(t.t, (x) => -x), t.idx);
    }
    case 'binary':
      return evalBinary(e, info, env);
    case 'index':
      return evalIndex(e, info, env);
    case 'member': {
      if (info.builtin === 'transpose') return BUILTIN_EVAL.transpose({ args: [evaluate(e.target, env)], info, shape: () => [] });
      const layer = env.layers.get((e.target as { name: string }).name) as Record<string, T.Tensor> | undefined;
      if (!layer) throw new Error(`internal: layer '${(e.target as { name: string }).name}' has no weights`);
      return tv(layer[e.name]);
    }
    case 'call':
    case 'axisCall':
      return evalCall(e, info, env);
  }
}

const arith: Record<string, (x: number, y: number) => number> = {
  '+': (x, y) => x + y,
  '-': (x, y) => x - y,
  '*': (x, y) => x * y,
  '/': (x, y) => x / y,
  '**': (x, y) => x ** y,
};
const compare: Record<string, (x: number, y: number) => boolean> = {
  '==': (x, y) => x === y,
  '!=': (x, y) => x !== y,
  '<': (x, y) => x < y,
  '<=': (x, y) => x <= y,
  '>': (x, y) => x > y,
  '>=': (x, y) => x >= y,
};

function evalBinary(e: Extract<A.Expr, { kind: 'binary' }>, info: ExprInfo, env: Env): Value {
  const l = evaluate(e.left, env);
  if (e.op === 'and' || e.op === 'or') {
    const lv = (l as { v: boolean }).v;
    if (e.op === 'and' ? !lv : lv) return { kind: 'bool', v: lv };
    return evaluate(e.right, env);
  }
  const r = evaluate(e.right, env);
  if (compare[e.op]) return { kind: 'bool', v: compare[e.op](asNumber(l), asNumber(r)) };
  if (e.op === '@') return matmulValues(asTensorValue(l), asTensorValue(r), env);
  if (l.kind === 'num' && r.kind === 'num') return num(arith[e.op](l.v, r.v));
  const a = asTensorValue(l);
  const b = asTensorValue(r);
  const align = info.align!;
  const idx = unionIdx(a.idx, b.idx);
  const idxSizes = idx.map((v) => sizeOf(v.range!, env));
  const out = align.out.map((d) => sizeOf(d, env));
  const ea = expand(a, idx, idxSizes, out, align.mapL);
  const eb = expand(b, idx, idxSizes, out, align.mapR);
  return tv(T.zipWith(ea, eb, arith[e.op]), idx);
}

/** NumPy `@` on the values' own axes, with index axes lined up in front. */
export function matmulValues(a: { t: T.Tensor; idx: IndexVar[] }, b: { t: T.Tensor; idx: IndexVar[] }, _env?: Env): Value {
  const idx = unionIdx(a.idx, b.idx);
  const ownA = a.t.shape.length - a.idx.length;
  const ownB = b.t.shape.length - b.idx.length;
  const vecA = ownA === 1;
  const vecB = ownB === 1;
  let ta = vecA ? T.reshape(a.t, [...a.t.shape.slice(0, -1), 1, a.t.shape[a.t.shape.length - 1]]) : a.t;
  let tb = vecB ? T.reshape(b.t, [...b.t.shape, 1]) : b.t;
  const batchA = Math.max(ownA, 2) - 2;
  const batchB = Math.max(ownB, 2) - 2;
  const batch = Math.max(batchA, batchB);
  ta = padIdx({ t: ta, idx: a.idx }, idx, batch - batchA);
  tb = padIdx({ t: tb, idx: b.idx }, idx, batch - batchB);
  let out = T.matmul(ta, tb);
  if (vecB) out = T.reshape(out, out.shape.slice(0, -1));
  if (vecA) out = T.reshape(out, [...out.shape.slice(0, vecB ? -1 : -2), ...(vecB ? [] : [out.shape[out.shape.length - 1]])]);
  return tv(out, idx);
}

function evalIndex(e: Extract<A.Expr, { kind: 'index' }>, info: ExprInfo, env: Env): Value {
  const target = asTensorValue(evaluate(e.target, env));
  const k = target.idx.length;
  let t = target.t;
  const res = info.index!;
  // Integer indices first, from the last axis back so earlier positions stay valid.
  const remaining: number[] = []; // own-axis positions that survive (in order), after takes
  const newVars: { v: IndexVar; pos: number }[] = [];
  let removed = 0;
  const own = t.shape.length - k;
  const positions: number[] = [];
  for (let axis = 0; axis < own; axis++) {
    const r = res[axis];
    if (r?.kind === 'int') {
      positions.push(-1);
      removed++;
      continue;
    }
    positions.push(axis - removed);
  }
  for (let axis = own - 1; axis >= 0; axis--) {
    const r = res[axis];
    if (r?.kind === 'int') {
      const n = t.shape[k + axis];
      let i = asNumber(evaluate(r.expr, env));
      if (i < 0) i += n;
      if (!(i >= 0 && i < n)) throw new RangeError(`index ${i} is out of range for an axis of size ${n} (at ${r.expr.span.line}:${r.expr.span.col})`);
      t = T.take(t, k + axis, i);
    }
  }
  for (let axis = 0; axis < own; axis++) {
    const r = res[axis];
    if (r?.kind === 'idx') newVars.push({ v: r.v, pos: k + positions[axis] });
    else if (r?.kind !== 'int') remaining.push(k + positions[axis]);
  }
  const idx = unionIdx(target.idx, newVars.map((n) => n.v));
  const perm = idx.map((v) => (target.idx.includes(v) ? target.idx.indexOf(v) : newVars.find((n) => n.v === v)!.pos));
  return tv(T.transpose(t, [...perm, ...remaining]), idx);
}

function evalCall(e: Extract<A.Expr, { kind: 'call' | 'axisCall' }>, info: ExprInfo, env: Env): Value {
  if (info.indexVar) return evalComprehension(e, info, env);
  const args = e.args.map((a) => evaluate(a.value, env));
  if (info.layer) return callLayer(info.layer, env.layers.get(info.layer.name)!, args[0]);
  if (info.fn) return callFunction(info.fn, args, env);
  const f = BUILTIN_EVAL[info.builtin!];
  return f({ args, info, shape: () => (info.shape ?? []).map((d) => sizeOf(d, env)) });
}

function evalComprehension(e: Extract<A.Expr, { kind: 'call' | 'axisCall' }>, info: ExprInfo, env: Env): Value {
  const v = info.indexVar!;
  const body = asTensorValue(evaluate(e.args[0].value, env));
  const pos = body.idx.indexOf(v);
  if (pos < 0) {
    // The body does not vary with v: summing repeats it range-many times; the mean is itself.
    const n = info.builtin === 'sum' ? sizeOf(v.range!, env) : 1;
    return tv(T.map(body.t, (x) => x * n), body.idx);
  }
  const reduced = info.builtin === 'mean' ? T.mean(body.t, [pos]) : T.sum(body.t, [pos]);
  return tv(reduced, body.idx.filter((x) => x !== v));
}

export function callLayer(layer: LayerInfo, rt: LayerRuntime, x: Value): Value {
  const v = asTensorValue(x);
  if (rt.kind === 'Linear') {
    const y = asTensorValue(matmulValues(v, { t: rt.W, idx: [] }));
    return tv(T.add(y.t, rt.b), y.idx);
  }
  if (rt.kind === 'LayerNorm') {
    const last = v.t.shape.length - 1;
    const mu = T.mean(v.t, [last], true);
    const centered = T.sub(v.t, mu);
    const variance = T.mean(T.map(centered, (c) => c * c), [last], true);
    const normed = T.div(centered, T.map(variance, (s) => Math.sqrt(s + 1e-5)));
    return tv(T.add(T.mul(normed, rt.g), rt.b), v.idx);
  }
  void layer;
  return rt.copies.reduce((acc, c) => c.call(acc), x);
}

export function callFunction(decl: A.FnDecl, args: Value[], env: Env): Value {
  const sizes = new Map<string, number>();
  const vars = new Map<string, Value>();
  decl.params.forEach((p, i) => {
    const a = args[i];
    vars.set(p.name, a);
    if (p.type.kind === 'tensorType' && a.kind === 'tensor') {
      const own = a.t.shape.slice(a.idx.length);
      p.type.dims.forEach((d, k) => {
        if (d.kind === 'dimName' && !sizes.has(d.name)) sizes.set(d.name, own[k]);
      });
    }
  });
  return evaluate(decl.body, { ...env, sizes, vars });
}
