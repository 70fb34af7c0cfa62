// The tensor operations the interpreter is written against. Two implementations: Float64Ops
// computes (the reference interpreter), GraphOps (compiler/ir/graph-ops.ts) builds IR nodes —
// so lowering a program to IR is running the interpreter with GraphOps: one definition of the
// language's semantics (index variables, broadcasting by name, layers), two meanings of the ops.
import type { Span } from '../syntax/ast.ts';
import * as T from '../../runtime/tensor/index.ts';

/** A tensor handle: a float64 Tensor, or an IR node id. */
export type TT = T.Tensor | number;

export type BinaryOp = '+' | '-' | '*' | '/' | '**';
export type ReduceKind = 'sum' | 'mean' | 'max' | 'min';

export interface Ops {
  shape(t: TT): number[];
  scalar(v: number): TT;
  fill(shape: number[], v: number): TT;
  eye(n: number): TT;
  /** A parameter or input with its float64 value (GraphOps records it, Float64Ops returns it). */
  leaf(kind: 'param' | 'input', name: string, value: T.Tensor, trainable?: boolean): TT;
  unary(fn: T.UnaryName, x: TT): TT;
  /** Elementwise on equal shapes. */
  binary(op: BinaryOp, a: TT, b: TT): TT;
  broadcastAxes(x: TT, shape: number[], map: number[]): TT;
  reshape(x: TT, shape: number[]): TT;
  transpose(x: TT, perm: number[]): TT;
  take(x: TT, axis: number, index: number): TT;
  /** NumPy matmul of operands of rank ≥ 2; batch axes broadcast (size 1 stretches). */
  matmul(a: TT, b: TT): TT;
  reduce(kind: ReduceKind, x: TT, axes: number[]): TT;
  softmax(x: TT, axis: number): TT;
  logSoftmax(x: TT, axis: number): TT;
  kron(a: TT, b: TT): TT;
  detach(x: TT): TT;
  /** The source location of the expression being evaluated (for IR nodes' provenance). */
  locate?(span: A_Span | undefined): void;
  /** Exports only: a plain Linear/LayerNorm layer applied as one opaque module call (its weights are the module's). */
  moduleCall?(kind: 'Linear' | 'LayerNorm', path: string, x: TT, outShape: number[]): TT;
  /** The program named this value (a let); for messages about IR nodes. */
  bind?(name: string, t: TT): void;
}
type A_Span = Span;

const t = (x: TT) => x as T.Tensor;
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
  eye(n) {
    const e = T.zeros([n, n]);
    for (let i = 0; i < n; i++) e.data[i * n + i] = 1;
    return e;
  },
  leaf: (_k, _n, value) => value,
  unary: (fn, x) => T.map(t(x), T.unary[fn].f),
  binary: (op, a, b) => T.zipWith(t(a), t(b), ARITH[op]),
  broadcastAxes: (x, shape, map) => T.broadcastAxes(t(x), shape, map),
  reshape: (x, shape) => T.reshape(t(x), shape),
  transpose: (x, perm) => T.transpose(t(x), perm),
  take: (x, axis, i) => T.take(t(x), axis, i),
  matmul: (a, b) => T.matmul(t(a), t(b)),
  reduce: (kind, x, axes) => T[kind](t(x), axes),
  softmax: (x, axis) => T.softmax(t(x), axis),
  logSoftmax: (x, axis) => T.logSoftmax(t(x), axis),
  kron: (a, b) => T.kron(t(a), t(b)),
  detach: (x) => x,
};
