// Type inference for expressions: symbolic shapes, broadcasting, matmul, indexing, the expert
// comprehension, and calls (builtins, user functions, layers). Records an ExprInfo per node.
import { fail } from '../diagnostics.ts';
import type * as A from '../syntax/ast.ts';
import { BUILTINS, type CallSite } from './builtins.ts';
import { DERIVED_DIMS, dimDerived, dimAdd, dimAsConst, dimAsSymbol, dimConst, dimSymbols, dimDiv, dimEq, dimMul, dimSubst, dimSym, showDim, showShape, type Dim } from './dims.ts';
import { Scope, type Binding, type ExprInfo, type LayerInfo } from './env.ts';
import { alignShapes, asTensor, hyperTy, idxUnion, shapesEqual, showTy, tensorTy, type IndexVar, type Ty } from './types.ts';

/**
 * Names every program sees, set by how it runs: `training` (a static Bool: a program is compiled
 * for training or for evaluation) and `step` (the number of optimiser steps taken before this one,
 * a scalar fed at run time, so a schedule needs no recompilation). A program's own names shadow them.
 */
export const MODE_NAMES: Record<string, Ty> = { training: hyperTy('Bool'), step: tensorTy([]) };

export interface Ctx {
  scope: Scope;
  info: WeakMap<A.Expr, ExprInfo>;
  depth: number; // comprehension nesting depth
}

export function suggest(name: string, scope: Scope): string[] {
  const close = scope.visible().filter((n) => editDistance(n, name) <= Math.max(1, Math.floor(name.length / 3)));
  return close.length ? [`did you mean ${close.slice(0, 3).map((c) => `'${c}'`).join(' or ')}?`] : [];
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** A dimension expression, with every name required to be a known dimension. */
export function dimOf(d: A.DimExpr, scope: Scope): Dim {
  switch (d.kind) {
    case 'dimInt':
      return dimConst(d.value);
    case 'dimName':
      if (!scope.dims.has(d.name)) fail('E-name', `unknown dimension '${d.name}'`, d.span, { notes: suggest(d.name, scope) });
      return dimSym(d.name);
    case 'dimBin': {
      const l = dimOf(d.left, scope);
      const r = dimOf(d.right, scope);
      if (d.op === '+') return dimAdd(l, r);
      if (d.op === '-') return dimAdd(l, r, -1);
      if (d.op === '*') return dimMul(l, r);
      return dimDiv(l, r) ?? fail('E-shape', `cannot divide ${showDim(l)} by the sum ${showDim(r)}`, d.span);
    }
    case 'dimCall':
      if (!DERIVED_DIMS[d.fn]) fail('E-name', `unknown dimension function '${d.fn}'`, d.span, { expected: Object.keys(DERIVED_DIMS).join(' or ') });
      return dimDerived(d.fn, d.args.map((a) => dimOf(a, scope)));
  }
}

/** An expression used where a dimension is expected (model arguments `Block(D = 2 * D)`). */
export function exprAsDim(e: A.Expr, scope: Scope): Dim {
  if (e.kind === 'num' && e.isInt) return dimConst(e.value);
  if (e.kind === 'var') return dimOf({ kind: 'dimName', name: e.name, span: e.span }, scope);
  if (e.kind === 'binary' && ['+', '-', '*', '/'].includes(e.op)) {
    const l = exprAsDim(e.left, scope);
    const r = exprAsDim(e.right, scope);
    return e.op === '+' ? dimAdd(l, r) : e.op === '-' ? dimAdd(l, r, -1) : e.op === '*' ? dimMul(l, r) : (dimDiv(l, r) ?? fail('E-shape', 'cannot divide by a sum', e.span));
  }
  return fail('E-type', 'expected a dimension (a Dim name, an integer, or arithmetic on them)', e.span);
}

const record = (ctx: Ctx, e: A.Expr, info: ExprInfo): Ty => {
  ctx.info.set(e, info);
  return info.ty;
};

export function typeOf(e: A.Expr, ctx: Ctx): Ty {
  switch (e.kind) {
    case 'num':
      return record(ctx, e, { ty: hyperTy(e.isInt ? 'Int' : 'Float') });
    case 'bool':
      return record(ctx, e, { ty: hyperTy('Bool') });
    case 'var':
      return typeVar(e, ctx);
    case 'let': {
      const value = typeOf(e.value, ctx);
      const scope = ctx.scope.child();
      scope.bind(e.name, { kind: 'value', ty: value, origin: 'let' });
      return record(ctx, e, { ty: typeOf(e.body, { ...ctx, scope }) });
    }
    case 'if': {
      const c = typeOf(e.cond, ctx);
      if (c.kind !== 'hyper' || c.base !== 'Bool')
        fail('E-hyper', 'the condition of `if` must be a Bool computed from hyper-parameters', e.cond.span, {
          found: showTy(c),
          notes: c.kind === 'tensor' ? ['a comparison of tensors is a mask: choose elementwise with where(mask, a, b)'] : [],
        });
      const a = typeOf(e.then, ctx);
      const b = typeOf(e.else, ctx);
      return record(ctx, e, { ty: joinBranches(a, b, e) });
    }
    case 'unary': {
      const t = typeOf(e.operand, ctx);
      if (e.op === 'not') {
        if (t.kind !== 'hyper' || t.base !== 'Bool') fail('E-type', '`not` needs a Bool', e.operand.span, { found: showTy(t) });
        return record(ctx, e, { ty: t });
      }
      if (t.kind === 'hyper' && t.base === 'Bool') fail('E-type', 'cannot negate a Bool', e.operand.span);
      return record(ctx, e, { ty: t });
    }
    case 'binary':
      return typeBinary(e, ctx);
    case 'index':
      return typeIndex(e, ctx);
    case 'member':
      return typeMember(e, ctx);
    case 'call':
      return typeCall(e, ctx);
    case 'axisCall':
      return typeAxisCall(e, ctx);
  }
}

function typeVar(e: Extract<A.Expr, { kind: 'var' }>, ctx: Ctx): Ty {
  const b = ctx.scope.lookup(e.name);
  if (!b) {
    if (ctx.scope.dims.has(e.name)) return record(ctx, e, { ty: hyperTy('Int'), binding: { kind: 'value', ty: hyperTy('Int'), origin: 'dim' } });
    const mode = MODE_NAMES[e.name];
    if (mode) return record(ctx, e, { ty: mode, binding: { kind: 'value', ty: mode, origin: 'mode' } });
    if (BUILTINS[e.name]) fail('E-type', `'${e.name}' is a builtin function; call it`, e.span);
    return fail('E-name', `unknown name '${e.name}'`, e.span, { notes: suggest(e.name, ctx.scope) });
  }
  if (b.kind === 'idx') fail('E-type', `index variable '${e.name}' can only be used to index a tensor, as in B[${e.name}]`, e.span);
  if (b.kind !== 'value') fail('E-type', `'${e.name}' is a ${b.kind === 'fn' ? 'function' : 'layer'}; call it with arguments`, e.span);
  return record(ctx, e, { ty: b.ty, binding: b });
}

function joinBranches(a: Ty, b: Ty, e: Extract<A.Expr, { kind: 'if' }>): Ty {
  if (a.kind === 'hyper' && b.kind === 'hyper') {
    if ((a.base === 'Bool') !== (b.base === 'Bool')) fail('E-type', 'both branches of `if` must have the same type', e.span, { expected: showTy(a), found: showTy(b) });
    return a.base === 'Int' && b.base === 'Int' ? a : a.base === 'Bool' ? a : hyperTy('Float');
  }
  const ta = asTensor(a);
  const tb = asTensor(b);
  if (!shapesEqual(ta.shape, tb.shape) || ta.idx.length !== tb.idx.length)
    fail('E-shape', 'both branches of `if` must have the same shape', e.else.span, { expected: showTy(a), found: showTy(b) });
  return tensorTy(ta.shape, idxUnion(ta.idx, tb.idx));
}

function typeBinary(e: Extract<A.Expr, { kind: 'binary' }>, ctx: Ctx): Ty {
  const l = typeOf(e.left, ctx);
  const r = typeOf(e.right, ctx);
  const isBool = (t: Ty) => t.kind === 'hyper' && t.base === 'Bool';
  if (e.op === 'and' || e.op === 'or') {
    for (const [t, s] of [[l, e.left.span], [r, e.right.span]] as const) if (!isBool(t)) fail('E-type', `\`${e.op}\` needs Bool operands`, s, { found: showTy(t) });
    return record(ctx, e, { ty: hyperTy('Bool') });
  }
  for (const [t, s] of [[l, e.left.span], [r, e.right.span]] as const) if (isBool(t)) fail('E-type', `\`${e.op}\` needs numbers, not a Bool`, s);
  // Between hyper-parameters a comparison is a static Bool (for `if`); with a tensor operand it is
  // a mask — a tensor of 1.0 where it holds and 0.0 elsewhere — shaped like arithmetic's result.
  if (['==', '!=', '<', '<=', '>', '>='].includes(e.op) && l.kind === 'hyper' && r.kind === 'hyper') return record(ctx, e, { ty: hyperTy('Bool') });
  if (e.op === '@') return typeMatmul(e, l, r, ctx);
  if (l.kind === 'hyper' && r.kind === 'hyper') {
    const int = l.base === 'Int' && r.base === 'Int' && ['+', '-', '*'].includes(e.op);
    return record(ctx, e, { ty: hyperTy(int ? 'Int' : 'Float') });
  }
  const a = asTensor(l);
  const b = asTensor(r);
  const align = alignShapes(a.shape, b.shape);
  if (!align)
    fail('E-shape', `shapes do not match for '${e.op}'`, e.opSpan, {
      expected: 'shapes that broadcast (equal, 1, or one shape\'s dimensions found in order in the other)',
      found: `${showShape(a.shape)} ${e.op} ${showShape(b.shape)}`,
    });
  return record(ctx, e, { ty: tensorTy(align.out, idxUnion(a.idx, b.idx)), align });
}

function typeMatmul(e: Extract<A.Expr, { kind: 'binary' }>, l: Ty, r: Ty, ctx: Ctx): Ty {
  if (l.kind !== 'tensor' || r.kind !== 'tensor') fail('E-type', '`@` multiplies tensors; use `*` for scalars', e.opSpan);
  const a = l.shape.length === 1 ? [dimConst(1), l.shape[0]] : l.shape;
  const b = r.shape.length === 1 ? [r.shape[0], dimConst(1)] : r.shape;
  if (a.length < 2 || b.length < 2) fail('E-shape', '`@` needs operands with at least one axis', e.opSpan, { found: `${showShape(l.shape)} @ ${showShape(r.shape)}` });
  const k1 = a[a.length - 1];
  const k2 = b[b.length - 2];
  if (!dimEq(k1, k2))
    fail('E-shape', `inner dimensions of '@' differ: ${showDim(k1)} vs ${showDim(k2)}`, e.opSpan, {
      expected: `[…, ${showDim(k1)}] @ [${showDim(k1)}, …]`,
      found: `${showShape(l.shape)} @ ${showShape(r.shape)}`,
    });
  const batch = alignShapes(a.slice(0, -2), b.slice(0, -2));
  if (!batch) fail('E-shape', 'batch dimensions of `@` do not broadcast', e.opSpan, { found: `${showShape(l.shape)} @ ${showShape(r.shape)}` });
  const out = [...batch.out, ...(l.shape.length === 1 ? [] : [a[a.length - 2]]), ...(r.shape.length === 1 ? [] : [b[b.length - 1]])];
  return record(ctx, e, { ty: tensorTy(out, idxUnion(l.idx, r.idx)) });
}

function typeIndex(e: Extract<A.Expr, { kind: 'index' }>, ctx: Ctx): Ty {
  const target = typeOf(e.target, ctx);
  if (target.kind !== 'tensor') fail('E-type', 'only tensors can be indexed', e.target.span, { found: showTy(target) });
  if (e.items.length > target.shape.length)
    fail('E-shape', `too many indices: ${e.items.length} for a tensor with ${target.shape.length} axes`, e.span, { found: showTy(target) });
  const index: ExprInfo['index'] = [];
  const kept: Dim[] = [];
  let idx = target.idx;
  e.items.forEach((item, axis) => {
    const dim = target.shape[axis];
    if (item.kind === 'all') {
      index.push({ kind: 'all' });
      kept.push(dim);
      return;
    }
    if (item.kind === 'slice') {
      const lo = item.lo ? dimOf(item.lo, ctx.scope) : dimConst(0);
      const hi = item.hi ? dimOf(item.hi, ctx.scope) : dim;
      const len = dimAdd(hi, lo, -1);
      // Bounds known now are checked now; others when the sizes are (instantiation).
      const [l, n, h] = [dimAsConst(lo), dimAsConst(len), dimAsConst(dimAdd(dim, hi, -1))];
      if ((l !== undefined && l < 0) || (n !== undefined && n < 1) || (h !== undefined && h < 0))
        fail('E-shape', `the slice ${showDim(lo)}:${showDim(hi)} does not fit an axis of size ${showDim(dim)}`, item.span, { expected: `0 ≤ start < end ≤ ${showDim(dim)}` });
      index.push({ kind: 'slice', lo, hi, axisSize: dim });
      kept.push(len);
      return;
    }
    const b = item.expr.kind === 'var' ? ctx.scope.lookup(item.expr.name) : undefined;
    if (b?.kind === 'idx') {
      if (!b.v.range) b.v.range = dim;
      else if (!dimEq(b.v.range, dim))
        fail('E-shape', `index variable '${b.v.name}' ranges over ${showDim(b.v.range)} but indexes an axis of size ${showDim(dim)}`, item.span);
      if (idx.includes(b.v)) fail('E-shape', `'${b.v.name}' already indexes this value`, item.span);
      index.push({ kind: 'idx', v: b.v });
      idx = idxUnion(idx, [b.v]);
      return;
    }
    const t = typeOf(item.expr, ctx);
    if (t.kind !== 'hyper' || t.base !== 'Int') fail('E-type', 'an index must be an integer, an index variable or `:`', item.span, { found: showTy(t) });
    index.push({ kind: 'int', expr: item.expr });
  });
  return record(ctx, e, { ty: tensorTy([...kept, ...target.shape.slice(e.items.length)], idx), index });
}

function layerOf(e: A.Expr, ctx: Ctx): LayerInfo | undefined {
  if (e.kind !== 'var') return undefined;
  const b = ctx.scope.lookup(e.name);
  return b?.kind === 'layer' ? b.layer : undefined;
}

function typeMember(e: Extract<A.Expr, { kind: 'member' }>, ctx: Ctx): Ty {
  const layer = layerOf(e.target, ctx);
  if (layer) {
    const fields: Record<string, Dim[]> =
      layer.kind === 'Linear' ? { W: [layer.inDim, layer.outDim], b: [layer.outDim] } : layer.kind === 'LayerNorm' ? { g: [layer.dim], b: [layer.dim] } : {};
    const shape = fields[e.name];
    if (!shape) fail('E-name', `layer '${layer.name}' has no field '${e.name}'`, e.span, { expected: Object.keys(fields).join(' or ') || 'no fields (call it)' });
    return record(ctx, e, { ty: tensorTy(shape), layer });
  }
  const t = typeOf(e.target, ctx);
  if (e.name === 'T' && t.kind === 'tensor') {
    if (t.shape.length < 2) fail('E-shape', '.T needs at least two axes', e.span, { found: showTy(t) });
    const s = [...t.shape];
    [s[s.length - 2], s[s.length - 1]] = [s[s.length - 1], s[s.length - 2]];
    return record(ctx, e, { ty: tensorTy(s, t.idx), builtin: 'transpose' });
  }
  return fail('E-name', `no field '${e.name}' on ${showTy(t)}`, e.span, { expected: '.T on a tensor, or a layer field' });
}

function typeCall(e: Extract<A.Expr, { kind: 'call' }>, ctx: Ctx): Ty {
  const layer = layerOf(e.callee, ctx);
  if (e.callee.kind !== 'var') fail('E-type', 'only named functions and layers can be called', e.callee.span);
  const name = e.callee.name;
  const args = e.args.map((a) => {
    if (a.name) fail('E-arity', `'${name}' takes positional arguments only`, a.span);
    return { ty: typeOf(a.value, ctx), span: a.span };
  });
  if (layer) return record(ctx, e, { ty: callLayer(layer, args, e, ctx), layer });
  const b = ctx.scope.lookup(name);
  if (b?.kind === 'fn') return record(ctx, e, { ty: callFn(b.decl, args, e, ctx), fn: b.decl });
  const builtin = BUILTINS[name];
  if (!b && builtin) {
    if (builtin.form === 'axis') fail('E-arity', `'${name}' needs bracketed axes: ${name}[…](…)`, e.span);
    if (args.length !== builtin.arity) fail('E-arity', `'${name}' takes ${builtin.arity} argument(s)`, e.span, { found: `${args.length}` });
    const info: ExprInfo = { ty: hyperTy('Float'), builtin: name };
    info.ty = builtin.check(site(name, e.span, args, undefined, ctx), info);
    return record(ctx, e, info);
  }
  if (!b) fail('E-name', `unknown function '${name}'`, e.callee.span, { notes: suggest(name, ctx.scope) });
  return fail('E-type', `'${name}' is not a function or layer`, e.callee.span);
}

function site(name: string, span: A.Span, args: CallSite['args'], axes: A.DimExpr[] | undefined, ctx: Ctx): CallSite {
  return {
    name,
    span,
    args,
    axes,
    resolveAxes(shape) {
      const list = axes ?? [];
      if (!list.length) fail('E-axis', `${name} needs at least one axis`, span);
      const positions = list.map((a) => resolveAxis(a, shape, ctx));
      if (new Set(positions).size !== positions.length) fail('E-axis', 'an axis is named twice', span);
      return positions;
    },
    resolveShape: () => (axes ?? []).map((a) => dimOf(a, ctx.scope)),
    resolveInts: () =>
      (axes ?? []).map((a) => {
        if (a.kind !== 'dimInt') fail('E-axis', 'expected an integer axis position', a.span);
        return a.value;
      }),
  };
}

function resolveAxis(a: A.DimExpr, shape: Dim[], ctx: Ctx): number {
  if (a.kind === 'dimInt') {
    const p = a.value < 0 ? shape.length + a.value : a.value;
    if (p < 0 || p >= shape.length) fail('E-axis', `axis ${a.value} is out of range for a tensor with ${shape.length} axes`, a.span, { found: showShape(shape) });
    return p;
  }
  const d = dimOf(a, ctx.scope);
  const hits = shape.flatMap((s, i) => (dimEq(s, d) ? [i] : []));
  if (hits.length === 0) fail('E-axis', `no axis ${showDim(d)} in a tensor of shape ${showShape(shape)}`, a.span, { expected: `one of ${showShape(shape)}` });
  if (hits.length > 1) fail('E-axis', `axis ${showDim(d)} is ambiguous in ${showShape(shape)}; name it by position (e.g. ${hits[hits.length - 1] - shape.length})`, a.span);
  return hits[0];
}

function typeAxisCall(e: Extract<A.Expr, { kind: 'axisCall' }>, ctx: Ctx): Ty {
  const first = e.axes[0];
  const isComprehension =
    (e.name === 'sum' || e.name === 'mean') && e.axes.length === 1 && first.kind === 'dimName' && !ctx.scope.dims.has(first.name);
  if (isComprehension) return typeComprehension(e, first.name, ctx);
  const builtin = BUILTINS[e.name];
  if (!builtin) fail('E-name', `unknown builtin '${e.name}[…]'`, e.nameSpan, { notes: suggest(e.name, new Scope(undefined, new Set(Object.keys(BUILTINS)))) });
  if (builtin.form !== 'axis') fail('E-arity', `'${e.name}' takes no bracketed axes`, e.nameSpan);
  if (e.args.length !== builtin.arity) fail('E-arity', `'${e.name}[…]' takes ${builtin.arity} argument(s)`, e.span, { found: `${e.args.length}` });
  const args = e.args.map((a) => ({ ty: typeOf(a.value, ctx), span: a.span }));
  const info: ExprInfo = { ty: hyperTy('Float'), builtin: e.name };
  info.ty = builtin.check(site(e.name, e.span, args, e.axes, ctx), info);
  return record(ctx, e, info);
}

function typeComprehension(e: Extract<A.Expr, { kind: 'axisCall' }>, name: string, ctx: Ctx): Ty {
  if (e.args.length !== 1) fail('E-arity', `${e.name}[${name}](…) takes one expression`, e.span);
  const v: IndexVar = { name, depth: ctx.depth };
  const scope = ctx.scope.child();
  scope.bind(name, { kind: 'idx', v });
  const body = typeOf(e.args[0].value, { ...ctx, scope, depth: ctx.depth + 1 });
  if (!v.range) fail('E-shape', `cannot tell what '${name}' ranges over: use it to index a tensor, as in B[${name}]`, e.axes[0].span);
  const t = asTensor(body);
  return record(ctx, e, { ty: tensorTy(t.shape, t.idx.filter((x) => x !== v)), indexVar: v, builtin: e.name });
}

/** Unify a call's argument types with a signature whose dimension names are generic. */
export function unifySignature(
  params: { name: string; type: A.ValueTypeAst }[],
  returns: A.ValueTypeAst | undefined,
  args: CallSite['args'],
  known: Map<string, Dim>,
  callSpan: A.Span,
  what: string,
  scopeDims: Set<string>,
): Ty {
  if (params.length !== args.length) fail('E-arity', `${what} takes ${params.length} argument(s)`, callSpan, { found: `${args.length}` });
  const env = new Map(known);
  let idx: IndexVar[] = [];
  params.forEach((p, i) => {
    const arg = args[i];
    if (p.type.kind === 'hyperType') {
      if (arg.ty.kind !== 'hyper') fail('E-type', `argument '${p.name}' of ${what} must be a ${p.type.hyper}`, arg.span, { found: showTy(arg.ty) });
      return;
    }
    const t = asTensor(arg.ty);
    idx = idxUnion(idx, t.idx);
    const want = p.type.dims;
    if (want.length !== t.shape.length)
      fail('E-shape', `argument '${p.name}' of ${what} has the wrong number of axes`, arg.span, { expected: `${want.length} axes`, found: showShape(t.shape) });
    want.forEach((d, k) => {
      const sym = d.kind === 'dimName' ? d.name : undefined;
      if (sym && !env.has(sym)) env.set(sym, t.shape[k]);
    });
    const expected = want.map((d) => dimSubst(dimOfLoose(d), env));
    if (!shapesEqual(expected, t.shape)) fail('E-shape', `argument '${p.name}' of ${what} has the wrong shape`, arg.span, { expected: showShape(expected), found: showShape(t.shape) });
  });
  if (!returns) return tensorTy([], idx);
  if (returns.kind === 'hyperType') return hyperTy(returns.hyper === 'Dim' ? 'Int' : returns.hyper);
  const out = returns.dims.map((d) => dimSubst(dimOfLoose(d), env));
  for (const d of out) for (const s of dimSymbols(d))
    if (!env.has(s) && !scopeDims.has(s)) fail('E-shape', `the result dimension ${s} of ${what} is not determined by its arguments`, callSpan);
  return tensorTy(out, idx);
}

/** A signature's dimension expression, with no scope check (names are generic there). */
export function dimOfLoose(d: A.DimExpr): Dim {
  if (d.kind === 'dimInt') return dimConst(d.value);
  if (d.kind === 'dimName') return dimSym(d.name);
  if (d.kind === 'dimCall') return DERIVED_DIMS[d.fn] ? dimDerived(d.fn, d.args.map(dimOfLoose)) : dimSym(d.fn);
  const l = dimOfLoose(d.left);
  const r = dimOfLoose(d.right);
  return d.op === '+' ? dimAdd(l, r) : d.op === '-' ? dimAdd(l, r, -1) : d.op === '*' ? dimMul(l, r) : (dimDiv(l, r) ?? l);
}

function callFn(decl: A.FnDecl, args: CallSite['args'], e: A.Expr, ctx: Ctx): Ty {
  return unifySignature(decl.params, decl.returns, args, new Map(), e.span, `function '${decl.name}'`, ctx.scope.dims);
}

function callLayer(layer: LayerInfo, args: CallSite['args'], e: A.Expr, ctx: Ctx): Ty {
  if (args.length !== 1) fail('E-arity', `layer '${layer.name}' takes one input`, e.span, { found: `${args.length}` });
  const t = asTensor(args[0].ty);
  const last = t.shape[t.shape.length - 1];
  const want = layer.kind === 'Linear' ? layer.inDim : layer.kind === 'LayerNorm' ? layer.dim : undefined;
  if (want) {
    if (!last || !dimEq(last, want))
      fail('E-shape', `layer '${layer.name}' expects inputs whose last axis is ${showDim(want)}`, args[0].span, { expected: `[…, ${showDim(want)}]`, found: showShape(t.shape) });
    return tensorTy([...t.shape.slice(0, -1), layer.kind === 'Linear' ? layer.outDim : want], t.idx);
  }
  if (layer.kind !== 'model') throw new Error('unreachable');
  const forward = layer.model.members.find((m): m is A.MethodDecl => m.kind === 'method' && m.name === 'forward');
  if (!forward) fail('E-name', `model '${layer.model.name}' has no forward method to call`, e.span);
  const out = unifySignature(forward.params, forward.returns, args, layer.dimArgs, e.span, `layer '${layer.name}'`, ctx.scope.dims);
  if (layer.repeat && !shapesEqual(asTensor(out).shape, t.shape))
    fail('E-shape', `a repeated layer must map its input shape to itself`, e.span, { expected: showShape(t.shape), found: showTy(out) });
  return out;
}

