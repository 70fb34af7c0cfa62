// The tensor operations the interpreter is written against. Two implementations: Float64Ops
// computes (the reference interpreter), GraphOps (compiler/ir/graph-ops.ts) builds IR nodes —
// so lowering a program to IR is running the interpreter with GraphOps: one definition of the
// language's semantics (index variables, broadcasting by name, layers), two meanings of the ops.
import type { Span } from '../syntax/ast.ts';
import * as T from '../../runtime/tensor/index.ts';
import { decomposePart, sliceColumns, type DecomposePart } from '../ir/prims/decompose.ts';

/** A tensor handle: a float64 Tensor, or an IR node id. */
export type TT = T.Tensor | number;

export type BinaryOp = '+' | '-' | '*' | '/' | '**';
export type ReduceKind = 'sum' | 'mean' | 'max' | 'min';

export interface Ops {
  shape(t: TT): number[];
  scalar(v: number): TT;
  fill(shape: number[], v: number): TT;
  /** [n, cols] with ones at (i, i + offset): the identity, or a shifted one (concat places blocks with it). */
  eye(n: number, cols?: number, offset?: number): TT;
  /**
   * A parameter or input with its float64 value (GraphOps records it, Float64Ops returns it), and
   * the dimension names of its axes as declared (for messages).
   */
  leaf(kind: 'param' | 'input', name: string, value: T.Tensor, trainable?: boolean, axes?: readonly string[]): TT;
  unary(fn: T.UnaryName, x: TT): TT;
  /**
   * Elementwise on equal shapes. `dead`: a or b, when the caller holds the only reference to it (the
   * value of an arithmetic subexpression, used once): the float64 interpreter may write the result
   * over it instead of making a new array (PiSSA's `W − s·(A @ B)` on a 768×768 weight).
   */
  binary(op: BinaryOp, a: TT, b: TT, dead?: TT): TT;
  /**
   * x ∘ s (s ∘ x where scalarFirst) for a number s, without expanding s to x's shape: the float64
   * interpreter's fast path (PiSSA's `s * (A @ B)` on a 768×768 weight); absent, s is expanded.
   */
  binaryScalar?(op: BinaryOp, x: TT, s: number, scalarFirst: boolean, dead?: TT): TT;
  broadcastAxes(x: TT, shape: number[], map: number[]): TT;
  reshape(x: TT, shape: number[]): TT;
  transpose(x: TT, perm: number[]): TT;
  take(x: TT, axis: number, index: number): TT;
  /** Entries lo..hi−1 along an axis. */
  slice(x: TT, axis: number, lo: number, hi: number): TT;
  /** The transpose of slice: x placed at offset lo of a zero axis of the given size. */
  pad(x: TT, axis: number, lo: number, size: number): TT;
  /** NumPy matmul of operands of rank ≥ 2; batch axes broadcast (size 1 stretches). */
  matmul(a: TT, b: TT): TT;
  reduce(kind: ReduceKind, x: TT, axes: number[]): TT;
  softmax(x: TT, axis: number): TT;
  logSoftmax(x: TT, axis: number): TT;
  kron(a: TT, b: TT): TT;
  detach(x: TT): TT;
  /** A part of the SVD or QR of a matrix (computed once, at load: no gradient). */
  decompose(x: TT, part: DecomposePart): TT;
  /** [0, 1, …, n − 1]. */
  iota(n: number): TT;
  /** A mask: 1 at the k largest entries along the axis (ties: the lower index), 0 elsewhere. */
  topk(x: TT, axis: number, k: number): TT;
  /** The source location of the expression being evaluated (for IR nodes' provenance). */
  locate?(span: A_Span | undefined): void;
  /** A trainable parameter learns at this multiple of the optimiser's rate (`lr * ratio`). */
  scaleLearningRate?(leafName: string, ratio: number): void;
  /** Exports only: a plain Linear/LayerNorm layer applied as one opaque module call (its weights are the module's). */
  moduleCall?(kind: 'Linear' | 'LayerNorm', path: string, x: TT, outShape: number[]): TT;
  /** The program named this value (a let); for messages about IR nodes. */
  bind?(name: string, t: TT): void;
}
type A_Span = Span;

const t = (x: TT) => x as T.Tensor;

/**
 * Arrays the float64 ops below made (arithmetic, matmul): the only ones they write over when told an
 * operand is dead — a second guard beside the interpreter's (a temporary, never a leaf's or a
 * decomposition's values, whatever a caller claims).
 */
const temporaries = new WeakSet<T.Tensor>();
const temporary = (x: T.Tensor): T.Tensor => (temporaries.add(x), x);
const reusable = (x: TT | undefined): T.Tensor | undefined => (x !== undefined && temporaries.has(t(x)) ? t(x) : undefined);
export const ARITH: Record<BinaryOp, (x: number, y: number) => number> = {
  '+': (x, y) => x + y,
  '-': (x, y) => x - y,
  '*': (x, y) => x * y,
  '/': (x, y) => x / y,
  '**': (x, y) => x ** y,
};

export const Float64Ops: Ops = {
  shape: (x) => t(x).shape,
  scalar: (v) => T.scalar(v),
  fill: (shape, v) => T.full(shape, v),
  eye: (n, cols = n, offset = 0) => shiftedEye(n, cols, offset),
  leaf: (_k, _n, value) => value,
  unary: (fn, x) => T.map(t(x), T.unary[fn].f),
  binary: (op, a, b, dead) => temporary(T.arith(op, t(a), t(b), reusable(dead))),
  binaryScalar: (op, x, s, scalarFirst, dead) => temporary(scalarFirst ? T.arith(op, T.scalar(s), t(x), reusable(dead)) : T.arith(op, t(x), T.scalar(s), reusable(dead))),
  // values are never written in place, so an expand to the same shape is the value itself (no copy)
  broadcastAxes: (x, shape, map) => (isIdentity(t(x).shape, shape, map) ? x : T.broadcastAxes(t(x), shape, map)),
  reshape: (x, shape) => T.reshape(t(x), shape),
  transpose: (x, perm) => T.transpose(t(x), perm),
  take: (x, axis, i) => T.take(t(x), axis, i),
  slice: (x, axis, lo, hi) => sliceColumns(t(x), axis, lo, hi),
  pad: (x, axis, lo, size) => T.pad(t(x), axis, lo, size),
  matmul: (a, b) => temporary(T.matmul(t(a), t(b))),
  reduce: (kind, x, axes) => T[kind](t(x), axes),
  softmax: (x, axis) => T.softmax(t(x), axis),
  logSoftmax: (x, axis) => T.logSoftmax(t(x), axis),
  kron: (a, b) => batchedKron(t(a), t(b)),
  detach: (x) => x,
  iota: (n) => T.tensor([n], Float64Array.from({ length: n }, (_, i) => i)),
  decompose: (x, part) => decomposePart(t(x), part),
  topk: (x, axis, k) => T.topkMask(t(x), axis, k),
};

/** whether expanding `from` to `shape` by `map` changes nothing (the same axes, in order, at the same sizes) */
function isIdentity(from: readonly number[], shape: readonly number[], map: readonly number[]): boolean {
  if (from.length !== shape.length || map.length !== from.length) return false;
  for (let i = 0; i < map.length; i++) if (map[i] !== i || from[i] !== shape[i]) return false;
  return true;
}

/** Kronecker product of the last two axes, over equal leading (batch) axes. */
function batchedKron(a: T.Tensor, b: T.Tensor): T.Tensor {
  if (a.shape.length === 2) return T.kron(a, b);
  const batch = a.shape.slice(0, -2);
  const n = batch.reduce((x, y) => x * y, 1);
  const mat = (x: T.Tensor, i: number) => T.take(T.reshape(x, [n, ...x.shape.slice(-2)]), 0, i);
  const parts = Array.from({ length: n }, (_, i) => T.kron(mat(a, i), mat(b, i)));
  return T.reshape(T.stack(parts, 0), [...batch, ...parts[0].shape]);
}

/** [n, cols] with ones at (i, i + offset) where that column exists. */
export function shiftedEye(n: number, cols: number, offset: number): T.Tensor {
  const e = T.zeros([n, cols]);
  for (let i = 0; i < n; i++) if (i + offset >= 0 && i + offset < cols) e.data[i * cols + i + offset] = 1;
  return e;
}
