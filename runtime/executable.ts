// One interface for every backend that runs a kernel plan (compiler/fuse/kernel-ir.ts):
// gpu.js modes (webgpu, webgl2, headlessgl, webasm, cpu), the fast CPU path, the reference.
import type { KernelPlan } from '../compiler/fuse/kernel-ir.ts';
import type { Tensor } from './tensor/tensor.ts';
import type { Timings } from '../compiler/timings.ts';

export interface Executable {
  /** e.g. 'cpu' (generated JS + WASM SIMD GEMM), 'gpujs-webgpu', 'gpujs-webasm', 'reference'. */
  readonly backend: string;
  /** Set a leaf (input or parameter) by name; shapes are fixed by the plan. */
  set(name: string, data: Float32Array): Promise<void>;
  /**
   * Set many leaves from tensors at once (initial values), where a backend does it better than set():
   * the CPU backend draws values not drawn yet straight into its buffers (runtime/init/drawn.ts).
   */
  load?(values: [name: string, value: Tensor][]): Promise<void>;
  /** Run every kernel of the plan once, in order. `args`: the plan's scalar run-time arguments. */
  run(args?: Record<string, number>): Promise<void>;
  /** Read a plan output (or a leaf) back to the host. */
  read(name: string): Promise<Float32Array>;
  /**
   * Make output `from` the new value of leaf `to` (optimiser updates: 'param:A' -> 'A'), staying on
   * the device where there is one.
   */
  assign(pairs: [from: string, to: string][]): Promise<void>;
  dispose(): void;
  /** Present where the plan runs on the host, synchronously (the CPU backend): a step's fast path. */
  readonly host?: HostAccess;
}

/** Synchronous, allocation-free access to a host executable (what a training step needs, no promises). */
export interface HostAccess {
  /** the array now holding leaf `name` (valid until an assign swaps it) */
  leaf(name: string): Float32Array;
  /** the array holding output `name` after run() (valid until the next run or assign) */
  output(name: string): Float32Array;
  run(): void;
  /** assign(pairs) prepared once: the returned function does it without allocating */
  assigner(pairs: [from: string, to: string][]): () => void;
}

export interface Backend {
  readonly name: string;
  /** Whether this backend can run here, and if not, why. */
  available(): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** `timings`: where a backend that reports its parts adds them (as 'prepare/<part>') */
  prepare(plan: KernelPlan, timings?: Timings): Promise<Executable>;
}
