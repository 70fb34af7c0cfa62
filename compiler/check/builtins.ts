// The builtin functions of Lily, one record each: how to type a call. Their evaluation lives in
// compiler/interp/builtins-eval.ts under the same names (a test keeps the two tables in step).
import { fail } from '../diagnostics.ts';
import type * as A from '../syntax/ast.ts';
import { dimAdd, dimAsConst, dimDerived, dimEq, dimMul, dimSym, showShape, type Dim } from './dims.ts';
import type { ExprInfo } from './env.ts';
import { alignShapes, hyperTy, shapesEqual, showTy, tensorTy, type IndexVar, type Ty } from './types.ts';

export interface CallSite {
  name: string;
  span: A.Span;
  args: { ty: Ty; span: A.Span }[];
  /** Bracketed axis arguments, already resolved against the first argument's shape. */
  axes?: A.DimExpr[];
  resolveAxes(shape: Dim[]): number[];
  resolveShape(): Dim[];
  resolveInts(): number[];
}

export interface Builtin {
  form: 'call' | 'axis';
  arity: number;
  doc: string;
  check(site: CallSite, info: ExprInfo): Ty;
}

const tensorArg = (site: CallSite, i: number): { shape: Dim[]; idx: IndexVar[] } => {
  const a = site.args[i];
  if (a.ty.kind === 'hyper') {
    if (a.ty.base === 'Bool') fail('E-type', `${site.name} expects a number or tensor, not a Bool`, a.span);
    return { shape: [], idx: [] };
  }
  return a.ty;
};

/** Elementwise functions: tensors keep their type; hyper numbers stay static (sqrt(5.0)). */
const elementwise = (doc: string): Builtin => ({
  form: 'call',
  arity: 1,
  doc,
  check(site) {
    const t = site.args[0].ty;
    if (t.kind === 'hyper') {
      if (t.base === 'Bool') fail('E-type', `${site.name} expects a number or tensor, not a Bool`, site.args[0].span);
      return hyperTy('Float');
    }
    return t;
  },
});

const reduction = (doc: string): Builtin => ({
  form: 'axis',
  arity: 1,
  doc,
  check(site, info) {
    const t = tensorArg(site, 0);
    const axes = site.resolveAxes(t.shape);
    info.axes = axes;
    return tensorTy(t.shape.filter((_, i) => !axes.includes(i)), t.idx);
  },
});

const alongAxis = (doc: string): Builtin => ({
  form: 'axis',
  arity: 1,
  doc,
  check(site, info) {
    const t = tensorArg(site, 0);
    const axes = site.resolveAxes(t.shape);
    if (axes.length !== 1) fail('E-axis', `${site.name} takes exactly one axis`, site.span, { found: `${axes.length} axes` });
    info.axes = axes;
    return tensorTy(t.shape, t.idx);
  },
});

const product = (ds: Dim[]) => ds.reduce((a, b) => dimMul(a, b), new Map([['', 1]]) as Dim);

const constructor = (doc: string, square = false): Builtin => ({
  form: 'axis',
  arity: 0,
  doc,
  check(site, info) {
    const shape = site.resolveShape();
    if (square && shape.length !== 1) fail('E-axis', `${site.name}[n]() takes one size`, site.span);
    info.shape = square ? [shape[0], shape[0]] : shape;
    return tensorTy(info.shape);
  },
});

/**
 * Operands combined elementwise (where, maximum, minimum): aligned pairwise by arithmetic's rules,
 * left to right; info.maps gets, per operand, where each of its axes lands in the result.
 */
function alignAll(site: CallSite, info: ExprInfo, operands: number[]): { shape: Dim[]; idx: IndexVar[] } {
  let out: Dim[] = [];
  let idx: IndexVar[] = [];
  let maps: number[][] = [];
  for (const i of operands) {
    const t = tensorArg(site, i);
    const a = alignShapes(out, t.shape);
    if (!a) fail('E-shape', `the arguments of ${site.name} do not broadcast together`, site.args[i].span, { expected: `a shape that broadcasts with ${showShape(out)}`, found: showShape(t.shape) });
    maps = [...maps.map((m) => m.map((k) => a.mapL[k])), a.mapR];
    out = a.out;
    idx = [...idx, ...t.idx.filter((v) => !idx.includes(v))].sort((x, y) => x.depth - y.depth);
  }
  info.maps = maps;
  info.shape = out;
  return { shape: out, idx };
}

/** An Int hyper-parameter argument (top-k's k). */
const intArg = (site: CallSite, i: number) => {
  const a = site.args[i];
  if (a.ty.kind !== 'hyper' || a.ty.base !== 'Int') fail('E-type', `${site.name} takes a whole number here (a hyper-parameter or literal)`, a.span, { found: showTy(a.ty) });
};

/** The first argument must be a mask-like tensor, not a static Bool (that is `if`). */
const maskArg = (site: CallSite) => {
  const c = site.args[0];
  if (c.ty.kind === 'hyper')
    fail('E-type', `the condition of ${site.name} is a tensor mask (a comparison of tensors)`, c.span, { found: showTy(c.ty), notes: c.ty.base === 'Bool' ? ['a static Bool chooses with if … then … else …'] : [] });
};

const pairwise = (doc: string): Builtin => ({
  form: 'call',
  arity: 2,
  doc,
  check(site, info) {
    const t = alignAll(site, info, [0, 1]);
    return tensorTy(t.shape, t.idx);
  },
});

/** svd_u / svd_s / svd_v / qr_q / qr_r of a matrix [m, n], with K = min(m, n). */
const decomposition = (doc: string, result: (m: Dim, n: Dim, K: Dim) => Dim[]): Builtin => ({
  form: 'call',
  arity: 1,
  doc,
  check(site) {
    const t = tensorArg(site, 0);
    if (t.shape.length !== 2 || t.idx.length) fail('E-shape', `${site.name} takes a matrix`, site.args[0].span, { expected: 'a 2-D tensor', found: showShape(t.shape) });
    const [m, n] = t.shape;
    return tensorTy(result(m, n, dimDerived('min', [m, n])));
  },
});

export const BUILTINS: Record<string, Builtin> = {
  svd_u: decomposition('left singular vectors [m, min(m, n)] of W = U diag(S) Vᵀ, largest first; computed once, at load (no gradient)', (m, _n, K) => [m, K]),
  svd_s: decomposition('singular values [min(m, n)], largest first; computed once, at load', (_m, _n, K) => [K]),
  svd_v: decomposition('right singular vectors [n, min(m, n)] (columns; W = U diag(S) Vᵀ); computed once, at load', (_m, n, K) => [n, K]),
  qr_q: decomposition('Q [m, min(m, n)] of W = Q R (orthonormal columns); computed once, at load', (m, _n, K) => [m, K]),
  qr_r: decomposition('R [min(m, n), n] of W = Q R (upper triangular, diagonal ≥ 0); computed once, at load', (_m, n, K) => [K, n]),
  exp: elementwise('e to the x, elementwise'),
  log: elementwise('natural logarithm, elementwise'),
  sqrt: elementwise('square root, elementwise'),
  rsqrt: elementwise('1 / sqrt(x), elementwise'),
  relu: elementwise('max(x, 0)'),
  gelu: elementwise('GELU, tanh approximation (PyTorch approximate="tanh")'),
  tanh: elementwise('hyperbolic tangent'),
  sigmoid: elementwise('1 / (1 + exp(-x))'),
  silu: elementwise('x * sigmoid(x)'),
  abs: elementwise('absolute value'),
  square: elementwise('x * x'),
  sin: elementwise('sine'),
  cos: elementwise('cosine'),
  softplus: elementwise('log(1 + exp(x))'),
  recip: elementwise('1 / x'),
  detach: {
    form: 'call',
    arity: 1,
    doc: 'the same value, with no gradient flowing through it (DoRA detaches its column norm)',
    check: (site) => site.args[0].ty,
  },
  transpose: {
    form: 'call',
    arity: 1,
    doc: 'swap the last two axes',
    check(site) {
      const t = tensorArg(site, 0);
      if (t.shape.length < 2) fail('E-shape', 'transpose needs at least two axes', site.args[0].span, { found: showShape(t.shape) });
      const s = [...t.shape];
      [s[s.length - 2], s[s.length - 1]] = [s[s.length - 1], s[s.length - 2]];
      return tensorTy(s, t.idx);
    },
  },
  kron: {
    form: 'call',
    arity: 2,
    doc: 'Kronecker product of two matrices: [a, b] ⊗ [c, d] -> [a*c, b*d]',
    check(site) {
      const a = tensorArg(site, 0);
      const b = tensorArg(site, 1);
      for (const [t, i] of [[a, 0], [b, 1]] as const)
        if (t.shape.length !== 2) fail('E-shape', 'kron takes two matrices', site.args[i].span, { expected: 'a 2-D tensor', found: showShape(t.shape) });
      const idx = [...a.idx, ...b.idx.filter((v) => !a.idx.includes(v))].sort((x, y) => x.depth - y.depth);
      return tensorTy([dimMul(a.shape[0], b.shape[0]), dimMul(a.shape[1], b.shape[1])], idx);
    },
  },
  sum: reduction('sum over the named axes; `sum[e](...)` with a fresh name sums an expert comprehension'),
  mean: reduction('mean over the named axes'),
  max: reduction('maximum over the named axes'),
  min: reduction('minimum over the named axes'),
  norm: reduction('L2 norm over the named axes'),
  logsumexp: reduction('log(sum(exp(x))) over the named axes, computed stably'),
  softmax: alongAxis('softmax along one axis'),
  log_softmax: alongAxis('log of softmax along one axis'),
  reshape: {
    form: 'axis',
    arity: 1,
    doc: 'reshape to the given dimensions (same number of elements)',
    check(site, info) {
      const t = tensorArg(site, 0);
      const shape = site.resolveShape();
      if (!dimEq(product(shape), product(t.shape)))
        fail('E-shape', 'reshape must keep the number of elements', site.span, { expected: showShape(t.shape), found: showShape(shape) });
      info.shape = shape;
      return tensorTy(shape, t.idx);
    },
  },
  broadcast: {
    form: 'axis',
    arity: 1,
    doc: 'broadcast to the given dimensions (the rules of arithmetic: NumPy alignment, else by name)',
    check(site, info) {
      const t = tensorArg(site, 0);
      const shape = site.resolveShape();
      // The same alignment arithmetic uses, with the target as the other operand; it must not grow.
      const align = alignShapes(t.shape, shape);
      if (!align || !shapesEqual(align.out, shape))
        fail('E-shape', 'cannot broadcast', site.span, { expected: `a shape that broadcasts to ${showShape(shape)} (trailing axes equal or 1, or its dimensions found in order by name)`, found: showShape(t.shape) });
      info.shape = shape;
      info.align = align;
      return tensorTy(shape, t.idx);
    },
  },
  permute: {
    form: 'axis',
    arity: 1,
    doc: 'reorder axes: permute[0, 2, 1](x)',
    check(site, info) {
      const t = tensorArg(site, 0);
      const perm = site.resolveInts();
      const sorted = [...perm].sort((a, b) => a - b);
      if (perm.length !== t.shape.length || sorted.some((p, i) => p !== i))
        fail('E-axis', `permute needs a permutation of 0..${t.shape.length - 1}`, site.span, { found: `[${perm.join(', ')}]` });
      info.perm = perm;
      return tensorTy(perm.map((p) => t.shape[p]), t.idx);
    },
  },
  where: {
    form: 'call',
    arity: 3,
    doc: 'where(mask, a, b): a where the mask is 1, b where it is 0 (= mask·a + (1 − mask)·b; both are computed)',
    check(site, info) {
      maskArg(site);
      const t = alignAll(site, info, [0, 1, 2]);
      return tensorTy(t.shape, t.idx);
    },
  },
  maximum: pairwise('the larger of a and b, elementwise; the gradient goes to the larger (to b on ties)'),
  minimum: pairwise('the smaller of a and b, elementwise; the gradient goes to the smaller (to b on ties)'),
  topk: {
    form: 'axis',
    arity: 2,
    doc: 'topk[E](x, k): a mask, 1 at the k largest entries along E (ties: the lower index first); x * topk[E](x, k) keeps them',
    check(site, info) {
      const t = tensorArg(site, 0);
      const axes = site.resolveAxes(t.shape);
      if (axes.length !== 1) fail('E-axis', 'topk takes exactly one axis', site.span, { found: `${axes.length} axes` });
      intArg(site, 1);
      info.axes = axes;
      info.shape = [t.shape[axes[0]]];
      return tensorTy(t.shape, t.idx);
    },
  },
  argmax: {
    form: 'axis',
    arity: 1,
    doc: 'argmax[E](x): the position of the largest entry along E (the first on ties), as a number; no gradient',
    check(site, info) {
      const t = tensorArg(site, 0);
      const axes = site.resolveAxes(t.shape);
      if (axes.length !== 1) fail('E-axis', 'argmax takes exactly one axis', site.span, { found: `${axes.length} axes` });
      info.axes = axes;
      return tensorTy(t.shape.filter((_, i) => i !== axes[0]), t.idx);
    },
  },
  one_hot: {
    form: 'axis',
    arity: 1,
    doc: 'one_hot[E](i): a new last axis of size E, 1 at position i (a number, as argmax gives) and 0 elsewhere',
    check(site, info) {
      const t = tensorArg(site, 0);
      const shape = site.resolveShape();
      if (shape.length !== 1) fail('E-axis', 'one_hot[n](i) takes one size', site.span);
      info.shape = shape;
      return tensorTy([...t.shape, shape[0]], t.idx);
    },
  },
  floor: elementwise('the largest whole number ≤ x; no gradient'),
  concat: {
    form: 'axis',
    arity: 2,
    doc: 'concat[axis](a, b): b after a along an axis of a (named or by position); the other axes must agree',
    check(site, info) {
      const a = tensorArg(site, 0);
      const b = tensorArg(site, 1);
      const axes = site.resolveAxes(a.shape);
      if (axes.length !== 1) fail('E-axis', 'concat takes exactly one axis', site.span, { found: `${axes.length} axes` });
      const k = axes[0];
      const same = a.shape.length === b.shape.length && a.shape.every((d, i) => i === k || dimEq(d, b.shape[i]));
      if (!same || a.idx.length || b.idx.length)
        fail('E-shape', 'concat needs tensors that agree on every other axis', site.args[1].span, { expected: showShape(a.shape.map((d, i) => (i === k ? dimSym('…') : d))), found: showShape(b.shape) });
      info.axes = axes;
      return tensorTy(a.shape.map((d, i) => (i === k ? dimAdd(d, b.shape[k]) : d)));
    },
  },
  dropout: {
    form: 'call',
    arity: 2,
    doc: 'dropout(x, p): in training, each entry zeroed with probability p and the rest scaled by 1/(1 − p), fresh every step; in evaluation, x',
    check(site) {
      const p = site.args[1];
      if (p.ty.kind !== 'hyper' || p.ty.base === 'Bool') fail('E-type', 'the dropout probability is a number (a hyper-parameter or literal)', p.span, { found: showTy(p.ty) });
      return site.args[0].ty.kind === 'hyper' ? tensorTy([]) : site.args[0].ty;
    },
  },
  uniform: constructor('uniform[dims](): random numbers in [0, 1), drawn afresh every training step (fixed by the seed and the step)'),
  range: {
    form: 'axis',
    arity: 0,
    doc: 'range[n](): the numbers 0, 1, …, n − 1',
    check(site, info) {
      const shape = site.resolveShape();
      if (shape.length !== 1) fail('E-axis', 'range[n]() takes one size', site.span);
      info.shape = shape;
      return tensorTy(shape);
    },
  },
  eye: constructor('identity matrix eye[n]()', true),
  zeros: constructor('a tensor of zeros zeros[dims]()'),
  ones: constructor('a tensor of ones ones[dims]()'),
};
