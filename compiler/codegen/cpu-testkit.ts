// Builders for hand-made kernels and plans (tests and bench/cpu-kernels.ts), until the fusion pass
// produces real plans.
import * as T from '../../runtime/tensor/index.ts';
import type { BufferId, BufferInfo, Kernel, KernelPlan, KExpr } from '../fuse/kernel-ir.ts';
import { runPlanReference } from '../fuse/reference.ts';

export const ld = (buf: BufferId, terms: Record<string, number>, offset = 0): KExpr => ({
  k: 'load',
  buf,
  at: { terms: Object.entries(terms).map(([v, c]) => ({ v, c })), offset },
});
export const cst = (v: number): KExpr => ({ k: 'const', v });
export const arg = (name: string): KExpr => ({ k: 'arg', name });
export const bin = (op: '+' | '-' | '*' | '/' | 'pow' | 'max', a: KExpr, b: KExpr): KExpr => ({ k: 'bin', op, a, b });
export const un = (fn: T.UnaryName, a: KExpr): KExpr => ({ k: 'unary', fn, a });
export const sum = (vars: Record<string, number>, body: KExpr): KExpr => ({
  k: 'reduce',
  op: 'sum',
  vars: Object.entries(vars).map(([v, extent]) => ({ v, extent })),
  body,
});
export const max = (vars: Record<string, number>, body: KExpr): KExpr => ({
  k: 'reduce',
  op: 'max',
  vars: Object.entries(vars).map(([v, extent]) => ({ v, extent })),
  body,
});

/** row-major strides of a shape, keyed by the given variable names */
export function strides(vars: string[], shape: number[]): Record<string, number> {
  const s: Record<string, number> = {};
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[vars[i]!] = (s[vars[i]!] ?? 0) + acc;
    acc *= shape[i]!;
  }
  return s;
}

export function kernel(name: string, out: BufferId, loops: Record<string, number>, body: KExpr, inputs: BufferId[] = []): Kernel {
  return {
    name,
    kind: 'elementwise',
    out,
    loops: Object.entries(loops).map(([v, extent]) => ({ v, extent })),
    body,
    inputs,
    flops: 0,
    bytes: 0,
    nodes: [],
  };
}

export interface PlanSpec {
  /** leaves: name → shape (buffers 0..n-1 in this order) */
  leaves: [name: string, shape: number[], kind?: 'input' | 'param'][];
  /** temps: shape each (buffers n.. in this order) */
  temps: number[][];
  kernels: Kernel[];
  outputs: [name: string, buf: BufferId][];
  args?: string[];
  /** temp buffer → slot (default: none shared) */
  slots?: [BufferId, number][];
}

export function plan(spec: PlanSpec): KernelPlan {
  const buffers: BufferInfo[] = [];
  const leaves = new Map<string, BufferId>();
  for (const [name, shape, kind] of spec.leaves) {
    leaves.set(name, buffers.length);
    buffers.push({ id: buffers.length, shape, size: T.numel(shape), kind: kind ?? 'input', name });
  }
  for (const shape of spec.temps) buffers.push({ id: buffers.length, shape, size: T.numel(shape), kind: 'temp' });
  const slots = new Map(spec.slots ?? []);
  const slotSizes: number[] = [];
  for (const [b, s] of slots) slotSizes[s] = Math.max(slotSizes[s] ?? 0, buffers[b]!.size);
  return { buffers, kernels: spec.kernels, outputs: new Map(spec.outputs), leaves, args: spec.args ?? [], slots, slotSizes: [...slotSizes].map((x) => x ?? 0) };
}

/** deterministic float32 values in [-1, 1) (xorshift32) */
export function rand(n: number, seed: number): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** random values for every leaf, and the float64 reference outputs on exactly those values */
export function referenceRun(p: KernelPlan, seed: number, args: Record<string, number> = {}) {
  const feeds = new Map<string, Float32Array>();
  const f64 = new Map<string, T.Tensor>();
  let s = seed;
  for (const [name, id] of p.leaves) {
    const x = rand(p.buffers[id]!.size, s++);
    feeds.set(name, x);
    f64.set(name, { shape: p.buffers[id]!.shape, data: Float64Array.from(x) });
  }
  return { feeds, ref: runPlanReference(p, f64, args) };
}

/** max over elements of |got − want| / (atol + rtol·|want|); ≤ 1 passes */
export function closeness(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number): { worst: number; at: number } {
  if (got.length !== want.length) return { worst: Infinity, at: -1 };
  let worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    const r = g === w ? 0 : Math.abs(g - w) / (atol + rtol * Math.abs(w));
    if (!(r <= worst)) {
      worst = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  return { worst, at };
}

/** xorshift32 in [0, 1): a tiny, seedable source of test data for kernel tests. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}
