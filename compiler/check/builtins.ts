// The builtin functions of Lily, one record each: how to type a call. Their evaluation lives in
// compiler/interp/builtins-eval.ts under the same names (a test keeps the two tables in step).
import { fail } from '../diagnostics.ts';
import type * as A from '../syntax/ast.ts';
import { dimAdd, dimAsConst, dimEq, dimMul, dimSym, showShape, type Dim } from './dims.ts';
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

export const BUILTINS: Record<string, Builtin> = {
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
        if (t.shape.length !== 2 || t.idx.length) fail('E-shape', 'kron takes two matrices', site.args[i].span, { expected: 'a 2-D tensor', found: showShape(t.shape) });
      return tensorTy([dimMul(a.shape[0], b.shape[0]), dimMul(a.shape[1], b.shape[1])]);
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
  concat: {
    form: 'axis',
    arity: 2,
    doc: 'join two tensors along one axis: concat[1](cls, tokens)',
    check(site, info) {
      const [a, b] = [tensorArg(site, 0), tensorArg(site, 1)];
      if (a.idx.length || b.idx.length) fail('E-type', 'concat of a value that depends on an index variable', site.span);
      const axes = site.resolveAxes(a.shape);
      if (axes.length !== 1) fail('E-axis', 'concat takes exactly one axis', site.span, { found: `${axes.length} axes` });
      const k = axes[0];
      const fits = a.shape.length === b.shape.length && a.shape.every((d, i) => i === k || dimEq(d, b.shape[i]));
      if (!fits) fail('E-shape', `concat needs equal shapes except along axis ${k}`, site.args[1].span, { expected: showShape(a.shape.map((d, i) => (i === k ? dimSym('_') : d))).replace('_', '…'), found: showShape(b.shape) });
      info.axes = axes;
      return tensorTy(a.shape.map((d, i) => (i === k ? dimAdd(d, b.shape[k]) : d)));
    },
  },
  eye: constructor('identity matrix eye[n]()', true),
  zeros: constructor('a tensor of zeros zeros[dims]()'),
  ones: constructor('a tensor of ones ones[dims]()'),
};
