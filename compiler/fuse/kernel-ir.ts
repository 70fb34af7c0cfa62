// The kernel IR: what the fusion pass produces and every renderer (gpu.js, CPU) consumes.
// A kernel computes one output buffer; each output element is a scalar expression (KExpr) of the
// loop variables naming its coordinates. Loads address input buffers by flat offsets that are
// affine in the loop variables (broadcasts, transposes and contiguous reshapes are free), and a
// `reduce` node sums (or maxes) its body over extra loop variables — a contraction is one reduce of
// a product of two loads, with its epilogue (scale, bias, activation) around it.
import type { UnaryName } from '../../runtime/tensor/index.ts';

export type BufferId = number;

export interface BufferInfo {
  id: BufferId;
  shape: number[];
  size: number; // elements
  /** input: data fed each step; param: trainable or frozen state; temp: produced by a kernel. */
  kind: 'input' | 'param' | 'temp';
  name?: string; // leaf name (x, A, base.W, ...) or output name (y, grad:A, ...)
}

/** Flat element offset Σ coeff·var + offset (over the kernel's loop and reduction variables). */
export interface Affine {
  terms: { v: string; c: number }[];
  offset: number;
}

export type KExpr =
  | { k: 'load'; buf: BufferId; at: Affine }
  | { k: 'const'; v: number }
  /** A scalar supplied at run time (e.g. the learning rate with bias correction). */
  | { k: 'arg'; name: string }
  | { k: 'unary'; fn: UnaryName; a: KExpr }
  /** The derivative f'(a) of an elementwise function. */
  | { k: 'unaryGrad'; fn: UnaryName; a: KExpr }
  | { k: 'bin'; op: '+' | '-' | '*' | '/' | 'pow' | 'max'; a: KExpr; b: KExpr }
  /** Σ (or max) of body over the given variables, each 0 ≤ v < extent. */
  | { k: 'reduce'; op: 'sum' | 'max'; vars: { v: string; extent: number }[]; body: KExpr };

export interface Kernel {
  name: string;
  /** contraction: a reduce of a product is the core (GEMM-class); the rest is elementwise. */
  kind: 'contraction' | 'elementwise' | 'reduction';
  out: BufferId;
  /** Output coordinates: one variable per axis of the output, row-major. */
  loops: { v: string; extent: number }[];
  body: KExpr;
  /** Buffers this kernel reads. */
  inputs: BufferId[];
  flops: number;
  /** Bytes read and written (float32), counting each input once. */
  bytes: number;
  /** IR nodes computed by this kernel (for --explain). */
  nodes: number[];
}

export interface KernelPlan {
  buffers: BufferInfo[];
  kernels: Kernel[];
  /** Graph outputs (y, grad:A, ... and optimiser updates param':A, ...) to the buffer holding them. */
  outputs: Map<string, BufferId>;
  /** Leaf name to buffer (inputs and parameters). */
  leaves: Map<string, BufferId>;
  /** Scalar run-time arguments used by kernels. */
  args: string[];
  /** Liveness-based reuse: temp buffer -> slot; slots are allocated once (sizes in elements). */
  slots: Map<BufferId, number>;
  slotSizes: number[];
}

export const affine = (terms: { v: string; c: number }[], offset = 0): Affine => ({ terms: terms.filter((t) => t.c !== 0), offset });

/** Variables a kernel expression mentions (loads and reductions). */
export function exprVars(e: KExpr, out = new Set<string>()): Set<string> {
  switch (e.k) {
    case 'load':
      e.at.terms.forEach((t) => out.add(t.v));
      break;
    case 'unary':
    case 'unaryGrad':
      exprVars(e.a, out);
      break;
    case 'bin':
      exprVars(e.a, out);
      exprVars(e.b, out);
      break;
    case 'reduce':
      exprVars(e.body, out);
      break;
  }
  return out;
}

/** Buffers an expression loads. */
export function exprLoads(e: KExpr, out = new Set<BufferId>()): Set<BufferId> {
  if (e.k === 'load') out.add(e.buf);
  else if (e.k === 'unary' || e.k === 'unaryGrad') exprLoads(e.a, out);
  else if (e.k === 'bin') {
    exprLoads(e.a, out);
    exprLoads(e.b, out);
  } else if (e.k === 'reduce') exprLoads(e.body, out);
  return out;
}

/** Run-time arguments an expression reads. */
export function exprArgs(e: KExpr, out = new Set<string>()): Set<string> {
  if (e.k === 'arg') out.add(e.name);
  else if (e.k === 'unary' || e.k === 'unaryGrad') exprArgs(e.a, out);
  else if (e.k === 'bin') {
    exprArgs(e.a, out);
    exprArgs(e.b, out);
  } else if (e.k === 'reduce') exprArgs(e.body, out);
  return out;
}

/**
 * A kernel's structure as text: its output, loops and body with every buffer named by `ref`. Equal
 * texts ⇔ kernels equal up to that naming of their buffers — how the CPU backend lowers repeated
 * kernels once (compiler/codegen/cpu-share.ts) and renders them to one wasm function
 * (runtime/backends/wasm-loops-module.ts), each with its own naming.
 */
export function kernelStructureText(k: Kernel, ref: (id: BufferId) => string): string {
  const parts: string[] = [`>${ref(k.out)}`];
  for (const l of k.loops) parts.push(`${l.v}:${l.extent}`);
  structureParts(k.body, ref, parts);
  return parts.join(' ');
}

// (module-level, not a closure per call: under tsx, esbuild's keepNames makes every named closure an
// Object.defineProperty call, and this runs for every kernel of a plan)
function structureParts(e: KExpr, ref: (id: BufferId) => string, parts: string[]): void {
  switch (e.k) {
    case 'load':
      parts.push(`L${ref(e.buf)}+${e.at.offset}`);
      for (const t of e.at.terms) parts.push(`${t.v}*${t.c}`);
      break;
    case 'const':
      parts.push(`C${Object.is(e.v, -0) ? '-0' : e.v}`);
      break;
    case 'arg':
      parts.push(`A${JSON.stringify(e.name)}`);
      break;
    case 'unary':
    case 'unaryGrad':
      parts.push(`${e.k}:${e.fn}`);
      structureParts(e.a, ref, parts);
      break;
    case 'bin':
      parts.push(`B${e.op}`);
      structureParts(e.a, ref, parts);
      structureParts(e.b, ref, parts);
      break;
    case 'reduce':
      parts.push(`R${e.op}`);
      for (const v of e.vars) parts.push(`${v.v}:${v.extent}`);
      structureParts(e.body, ref, parts);
      parts.push('/R');
      break;
  }
}
