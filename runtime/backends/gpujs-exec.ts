/// <reference types="@webgpu/types" />
/**
 * Kernel plans on gpu.js: one gpu.js kernel per plan kernel, rendered from a string by
 * compiler/codegen/gpujs.ts (the same source for every mode), with every shape a literal.
 *
 * Two executors behind one Backend:
 *  - webgpu: device-resident. Leaves (inputs, parameters, constants) live in GPU buffers that this
 *    backend owns: `set()` writes them in place with `queue.writeBuffer` (no kernel ever re-uploads
 *    them), kernels run with `pipeline: true, immutable: true` and take the previous kernels' buffer
 *    handles directly, each temp handle is `delete()`d right after its last reader (last uses come
 *    from the plan), plan outputs stay on the device until `read()` copies one back, and `assign()`
 *    makes an output's buffer the leaf's new buffer (a handle clone — no copy, no readback).
 *  - cpu, webasm, headlessgl, webgl2: host-resident. Buffers are Float32Arrays; each kernel returns a
 *    fresh array (webasm: sliced out of wasm memory; 2-D results are views of one array and are
 *    re-viewed flat, not copied; cpu rows are copied once), `assign()` re-points the leaf at the
 *    output array. On the GL modes a pipeline of textures would avoid the readback between kernels;
 *    they are untested here (no GL in this environment), so they take the simple, correct path.
 *
 * Traps (gpu.js 2.24.1, Node 20; measured here):
 *  - Kernel creation is lazy: `createKernel` only records the source; translation (and for webgpu
 *    the WGSL compile and pipeline creation) happens on the first call. `prepare()` therefore builds
 *    every kernel up front with `kernel.build(...)` on dummy arguments of the right types and sizes,
 *    so compile errors surface in `prepare()` and `stats` holds real per-kernel build times.
 *  - webgpu build needs the argument *types*, not data: a pipeline handle of any size stands in for
 *    a buffer argument. Passing a Float32Array at build and a handle at run (or the reverse) makes
 *    gpu.js switch kernels and rebuild, so the webgpu executor always passes handles.
 *  - webgpu: every call returns a Promise; the awaited pipeline result is a handle whose buffer is
 *    refcounted. The producing kernel keeps its own reference until its next call (immutable
 *    kernels drop it then), so `delete()` at the last use alone would free nothing before the next
 *    run: every temp of a plan would be resident at once. The executor drops the kernel's reference
 *    right after each call (`disown`, gpu.js internals: `kernel.outputBuffer`, `_refs`), so a temp's
 *    memory goes back at its last use.
 *  - webgpu: a handle passed as an argument to the kernel that produced it throws; `immutable: true`
 *    is what lets an updated parameter (its buffer being the update kernel's previous output) be
 *    read by that same kernel on the next step.
 *  - webgpu readback is `GPUBuffer.mapAsync`; this executor never calls it inside `run()`.
 *  - A scalar argument is typed from its first value: Integer values are widened to Number by
 *    gpu.js, so `lr = 1` at build and `lr = 0.001` later share one compiled kernel.
 *  - `new GPU({ mode })` succeeds for unusable modes and kernels silently fall back to cpu later;
 *    `available()` probes by running a kernel (gpujs-modes.ts), and `stats.kernels[i].mode` records
 *    the mode each kernel actually built in.
 */
import { createRequire } from 'node:module';
import type { GPU as GPUJS, IKernelRunShortcut } from 'gpu.js';
import { renderGpuJs, type RenderedGpuJsKernel } from '../../compiler/codegen/gpujs.ts';
import type { BufferId, Kernel, KernelPlan } from '../../compiler/fuse/kernel-ir.ts';
import type { Backend, Executable } from '../executable.ts';
import { createGPU, kernelMode, probeMode } from './gpujs-modes.ts';

const require = createRequire(import.meta.url);

export type GpuJsBackendMode = 'webgpu' | 'webgl2' | 'headlessgl' | 'webasm' | 'cpu';

export interface GpuJsBackendOptions {
  /** webasm only: spread kernels with at least 4,096 outputs over worker threads (gpu.js async mode). */
  asyncThreads?: boolean;
}

export interface GpuJsKernelStats {
  name: string;
  /** createKernel + build (translation; on webgpu also WGSL compile and pipeline creation), ms */
  buildMs: number;
  /** the gpu.js backend the kernel actually built in (differs from the mode on a silent fallback) */
  mode: string | undefined;
  output: number[];
}

export interface GpuJsExecutable extends Executable {
  readonly stats: { prepareMs: number; kernels: GpuJsKernelStats[] };
  /** the rendered kernels, in plan order (for --explain and debugging) */
  readonly rendered: readonly RenderedGpuJsKernel[];
}

type KernelFn = IKernelRunShortcut & ((...args: unknown[]) => unknown);

interface WebGPUHandle {
  buffer: GPUBuffer & { _refs?: number };
  output: number[];
  delete(): void;
  clone(): WebGPUHandle;
}

interface GpuJsInternals {
  GPU: typeof import('gpu.js').GPU & { isWebGL2Supported?: boolean };
  WebGPUContext: { acquire(): Promise<{ device: GPUDevice }> };
  WebGPUBufferResult: new (s: { buffer: GPUBuffer; output: number[]; context: unknown; kernel: unknown }) => WebGPUHandle;
}

const gpujs = () => require('gpu.js') as GpuJsInternals;

const GPU_BUFFER_USAGE = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, STORAGE: 0x0080 };
const GPU_MAP_MODE_READ = 0x0001;

/** The gpu.js backend in one mode. `available()` never throws; `prepare()` rejects with the reason. */
export function gpuJsBackend(mode: GpuJsBackendMode, opts: GpuJsBackendOptions = {}): Backend {
  let availability: Promise<{ ok: true } | { ok: false; reason: string }> | null = null;
  const available = () => {
    availability ??= probe(mode);
    return availability;
  };
  return {
    name: `gpujs-${mode}`,
    available,
    async prepare(plan: KernelPlan): Promise<GpuJsExecutable> {
      const a = await available();
      if (!a.ok) throw new Error(`gpujs-${mode} is unavailable: ${a.reason}`);
      const gpu = mode === 'webgl2' ? new (gpujs().GPU)({ mode: 'webgl2' }) : await createGPU(mode);
      try {
        const exec = mode === 'webgpu' ? new WebGpuExec(plan, gpu) : new HostExec(plan, gpu, mode, opts);
        await exec.init();
        return exec;
      } catch (e) {
        await Promise.resolve(gpu.destroy()).catch(() => {});
        throw e;
      }
    },
  };
}

async function probe(mode: GpuJsBackendMode): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    if (mode === 'webgl2') {
      if (!gpujs().GPU.isWebGL2Supported) return { ok: false, reason: 'no WebGL2 context here (webgl2 runs in a browser; in Node use headlessgl)' };
      return { ok: true };
    }
    const info = await probeMode(mode);
    return info.available ? { ok: true } : { ok: false, reason: info.reason ?? 'probe kernel failed' };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

// ---------------------------------------------------------------------------------------------
// What both executors share: rendering, liveness, argument checks, kernel building.

interface Prepared {
  k: Kernel;
  r: RenderedGpuJsKernel;
  fn: KernelFn;
}

abstract class PlanExec implements GpuJsExecutable {
  abstract readonly backend: string;
  readonly stats: { prepareMs: number; kernels: GpuJsKernelStats[] } = { prepareMs: 0, kernels: [] };
  readonly rendered: RenderedGpuJsKernel[];
  protected readonly ks: Prepared[] = [];
  /** temp buffer -> index of the last kernel reading it (-1: none) */
  protected readonly lastUse = new Map<BufferId, number>();
  /** buffers that must survive a run: plan outputs */
  protected readonly keep: Set<BufferId>;
  protected readonly leafIds = new Set<BufferId>();
  protected disposed = false;

  constructor(
    protected readonly plan: KernelPlan,
    protected readonly gpu: GPUJS,
  ) {
    this.rendered = plan.kernels.map((k) => renderGpuJs(k, plan));
    this.keep = new Set(plan.outputs.values());
    for (const id of plan.leaves.values()) this.leafIds.add(id);
    plan.kernels.forEach((k, i) => {
      if (!this.leafIds.has(k.out)) this.lastUse.set(k.out, this.lastUse.get(k.out) ?? -1);
      for (const p of this.rendered[i].params) if (p.kind === 'buffer' && !this.leafIds.has(p.buf)) this.lastUse.set(p.buf, i);
    });
  }

  /** Create and build every kernel (on dummy arguments), then whatever the executor needs. */
  async init(): Promise<void> {
    const t0 = performance.now();
    await this.initBuffers();
    for (let i = 0; i < this.plan.kernels.length; i++) {
      const k = this.plan.kernels[i];
      const r = this.rendered[i];
      const t = performance.now();
      const fn = this.gpu.createKernel(r.source, { output: r.output, dynamicOutput: false, dynamicArguments: false, ...this.kernelSettings() }) as KernelFn;
      this.ks.push({ k, r, fn });
      try {
        await this.buildKernel(fn, r);
      } catch (e) {
        throw new Error(`gpu.js could not build kernel ${k.name}: ${e instanceof Error ? e.message : String(e)}\n--- source ---\n${r.source}`);
      }
      this.stats.kernels.push({ name: k.name, buildMs: performance.now() - t, mode: kernelMode(fn), output: r.output });
    }
    const consts = (this.plan as KernelPlan & { constants?: Map<string, ArrayLike<number>> }).constants;
    if (consts) for (const [name, v] of consts) await this.set(name, Float32Array.from(v));
    this.stats.prepareMs = performance.now() - t0;
  }

  protected abstract kernelSettings(): Record<string, unknown>;
  protected abstract initBuffers(): Promise<void>;
  protected abstract buildKernel(fn: KernelFn, r: RenderedGpuJsKernel): Promise<void>;

  protected leaf(name: string): BufferId {
    const id = this.plan.leaves.get(name);
    if (id === undefined) throw new Error(`${this.backend}: '${name}' is not a leaf of this plan (leaves: ${[...this.plan.leaves.keys()].join(', ')})`);
    return id;
  }

  /** A plan output, else a leaf. */
  protected named(name: string): BufferId {
    const id = this.plan.outputs.get(name) ?? this.plan.leaves.get(name);
    if (id === undefined) throw new Error(`${this.backend}: no output or leaf named '${name}'`);
    return id;
  }

  protected checkSize(name: string, id: BufferId, data: ArrayLike<number>): void {
    const size = this.plan.buffers[id].size;
    if (data.length !== size) throw new Error(`${this.backend}: '${name}' has ${size} elements (shape [${this.plan.buffers[id].shape.join(', ')}]), got ${data.length}`);
  }

  protected scalar(name: string, args: Record<string, number>): number {
    const v = args[name];
    if (typeof v !== 'number') throw new Error(`${this.backend}: run-time argument '${name}' is missing`);
    return v;
  }

  protected alive(): void {
    if (this.disposed) throw new Error(`${this.backend}: executable was disposed`);
  }

  abstract set(name: string, data: Float32Array): Promise<void>;
  abstract run(args?: Record<string, number>): Promise<void>;
  abstract read(name: string): Promise<Float32Array>;
  abstract assign(pairs: [from: string, to: string][]): Promise<void>;

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.release();
    for (const { fn } of this.ks) {
      try {
        (fn as unknown as { destroy(): void }).destroy();
      } catch {
        /* a kernel that never built */
      }
    }
    void Promise.resolve(this.gpu.destroy()).catch(() => {});
  }

  protected abstract release(): void;
}

// ---------------------------------------------------------------------------------------------
// Host-resident: cpu, webasm, headlessgl, webgl2

/** A gpu.js result ([w] array or [h] rows of [w]) as one flat Float32Array, without copying when rows are views of one buffer. */
function flatten(out: unknown, size: number): Float32Array {
  if (out instanceof Float32Array) return out.length === size ? out : out.slice(0, size);
  const rows = out as Float32Array[];
  const first = rows[0];
  if (first instanceof Float32Array) {
    const w = first.length;
    let contiguous = first.byteOffset + size * 4 <= first.buffer.byteLength;
    for (let y = 1; contiguous && y < rows.length; y++) contiguous = rows[y].buffer === first.buffer && rows[y].byteOffset === first.byteOffset + y * w * 4;
    if (contiguous) return new Float32Array(first.buffer, first.byteOffset, size);
  }
  const flat = new Float32Array(size);
  let o = 0;
  for (const row of rows) {
    flat.set(row, o);
    o += row.length;
  }
  return flat;
}

class HostExec extends PlanExec {
  readonly backend: string;
  private readonly bufs = new Map<BufferId, Float32Array>();

  constructor(
    plan: KernelPlan,
    gpu: GPUJS,
    private readonly mode: GpuJsBackendMode,
    private readonly opts: GpuJsBackendOptions,
  ) {
    super(plan, gpu);
    this.backend = `gpujs-${mode}`;
  }

  protected kernelSettings(): Record<string, unknown> {
    return { pipeline: false, tactic: 'precision', precision: 'single' };
  }

  protected async initBuffers(): Promise<void> {
    for (const id of this.leafIds) this.bufs.set(id, new Float32Array(this.plan.buffers[id].size));
  }

  protected async buildKernel(fn: KernelFn, r: RenderedGpuJsKernel): Promise<void> {
    // build() translates and compiles; sizes must be the real ones (webasm bakes offsets per size)
    const dummy = r.params.map((p) => (p.kind === 'buffer' ? this.bufs.get(p.buf) ?? new Float32Array(this.plan.buffers[p.buf].size) : 0));
    (fn as unknown as { build(...a: unknown[]): void }).build(...dummy);
    if (this.mode === 'webasm' && this.opts.asyncThreads) (fn as unknown as { setAsyncMode(b: boolean): void }).setAsyncMode(true);
  }

  async set(name: string, data: Float32Array): Promise<void> {
    this.alive();
    const id = this.leaf(name);
    this.checkSize(name, id, data);
    this.bufs.set(id, Float32Array.from(data));
  }

  async run(args: Record<string, number> = {}): Promise<void> {
    this.alive();
    for (let i = 0; i < this.ks.length; i++) {
      const { k, r, fn } = this.ks[i];
      const vals = r.params.map((p) => {
        if (p.kind === 'arg') return this.scalar(p.name, args);
        const b = this.bufs.get(p.buf);
        if (!b) throw new Error(`${this.backend}: kernel ${k.name} reads buffer ${p.buf} before any kernel wrote it`);
        return b;
      });
      const out = await fn(...vals);
      this.bufs.set(k.out, flatten(out, this.plan.buffers[k.out].size));
      for (const p of r.params) if (p.kind === 'buffer' && this.lastUse.get(p.buf) === i && !this.keep.has(p.buf)) this.bufs.delete(p.buf);
      if (this.lastUse.get(k.out) === -1 && !this.keep.has(k.out)) this.bufs.delete(k.out);
    }
  }

  async read(name: string): Promise<Float32Array> {
    this.alive();
    const b = this.bufs.get(this.named(name));
    if (!b) throw new Error(`${this.backend}: '${name}' has not been computed yet (call run())`);
    return b.slice();
  }

  async assign(pairs: [from: string, to: string][]): Promise<void> {
    this.alive();
    // all sources first, so swaps (A <- B', B <- A') see the values before any assignment
    const moves = pairs.map(([from, to]) => {
      const src = this.bufs.get(this.named(from));
      if (!src) throw new Error(`${this.backend}: '${from}' has not been computed yet (call run())`);
      const id = this.leaf(to);
      this.checkSize(to, id, src);
      return [id, src] as const;
    });
    // kernels return fresh arrays and set() replaces rather than writes, so sharing the array is safe
    for (const [id, src] of moves) this.bufs.set(id, src);
  }

  protected release(): void {
    this.bufs.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Device-resident: webgpu

class WebGpuExec extends PlanExec {
  readonly backend = 'gpujs-webgpu';
  private device!: GPUDevice;
  private context: unknown;
  /** current buffer of every leaf; `owned` ones were created here and may be written in place */
  private readonly leaves = new Map<BufferId, WebGPUHandle>();
  private readonly owned = new Set<WebGPUHandle>();
  /** handles produced by the current (or last) run that are still alive: outputs, and temps in flight */
  private readonly temps = new Map<BufferId, WebGPUHandle>();
  private dummy: WebGPUHandle | null = null;

  protected kernelSettings(): Record<string, unknown> {
    return { pipeline: true, immutable: true };
  }

  protected async initBuffers(): Promise<void> {
    const ctx = await gpujs().WebGPUContext.acquire();
    this.context = ctx;
    this.device = ctx.device;
    for (const id of this.leafIds) this.leaves.set(id, this.newHandle(this.plan.buffers[id].size));
    for (const h of this.leaves.values()) this.owned.add(h);
    this.dummy = this.newHandle(1);
  }

  /** A zero-filled storage buffer of n floats, wrapped as a gpu.js pipeline handle. */
  private newHandle(n: number): WebGPUHandle {
    const buffer = this.device.createBuffer({
      size: Math.max(4, n * 4),
      usage: GPU_BUFFER_USAGE.STORAGE | GPU_BUFFER_USAGE.COPY_DST | GPU_BUFFER_USAGE.COPY_SRC,
    });
    return new (gpujs().WebGPUBufferResult)({ buffer, output: [n], context: this.context, kernel: null });
  }

  protected async buildKernel(fn: KernelFn, r: RenderedGpuJsKernel): Promise<void> {
    // types only: any handle stands for a buffer argument
    const dummy = r.params.map((p) => (p.kind === 'buffer' ? this.leaves.get(p.buf) ?? this.dummy : 0));
    await (fn as unknown as { build(...a: unknown[]): Promise<void> }).build(...dummy);
  }

  async set(name: string, data: Float32Array): Promise<void> {
    this.alive();
    const id = this.leaf(name);
    this.checkSize(name, id, data);
    let h = this.leaves.get(id)!;
    if (!this.owned.has(h) || (h.buffer._refs ?? 1) !== 1) {
      // the leaf currently shares an output's buffer (after assign): give it its own again
      const fresh = this.newHandle(data.length);
      this.owned.add(fresh);
      this.leaves.set(id, fresh);
      this.owned.delete(h);
      h.delete();
      h = fresh;
    }
    if (data.length > 0) this.device.queue.writeBuffer(h.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  private handle(id: BufferId): WebGPUHandle | undefined {
    return this.temps.get(id) ?? this.leaves.get(id);
  }

  async run(args: Record<string, number> = {}): Promise<void> {
    this.alive();
    // the previous run's outputs are superseded now
    for (const h of this.temps.values()) h.delete();
    this.temps.clear();
    for (let i = 0; i < this.ks.length; i++) {
      const { k, r, fn } = this.ks[i];
      const vals = r.params.map((p) => {
        if (p.kind === 'arg') return this.scalar(p.name, args);
        const h = this.handle(p.buf);
        if (!h) throw new Error(`${this.backend}: kernel ${k.name} reads buffer ${p.buf} before any kernel wrote it`);
        return h;
      });
      // submits the dispatch and resolves to the output handle: no data moves to the host
      const out = (await fn(...vals)) as WebGPUHandle;
      this.disown(fn, out);
      this.temps.set(k.out, out);
      // last uses: the dispatch above is submitted, so destroying now is safe
      for (const p of r.params) {
        if (p.kind === 'buffer' && this.lastUse.get(p.buf) === i && !this.keep.has(p.buf)) {
          this.temps.get(p.buf)?.delete();
          this.temps.delete(p.buf);
        }
      }
      if (this.lastUse.get(k.out) === -1 && !this.keep.has(k.out)) {
        out.delete();
        this.temps.delete(k.out);
      }
    }
  }

  /**
   * An immutable pipeline kernel keeps a reference to its last output buffer until its next call,
   * so deleting our handle alone frees nothing until the next run. Dropping the kernel's reference
   * right away (it then allocates a fresh buffer on its next call, exactly as it would have) makes
   * our handle the only owner, so `delete()` at the last use really returns the memory and a run
   * holds only the temps that are live, not all of them. Skipped if gpu.js's fields look different.
   */
  private disown(fn: KernelFn, out: WebGPUHandle): void {
    const inner = (fn as unknown as { kernel?: { outputBuffer?: (GPUBuffer & { _refs?: number }) | null } }).kernel;
    const b = inner?.outputBuffer;
    if (!inner || !b || b !== out.buffer || typeof b._refs !== 'number' || b._refs < 2) return;
    b._refs--;
    inner.outputBuffer = null;
  }

  async read(name: string): Promise<Float32Array> {
    this.alive();
    const h = this.handle(this.named(name));
    if (!h) throw new Error(`${this.backend}: '${name}' has not been computed yet (call run())`);
    return this.readBack(h.buffer, this.plan.buffers[this.named(name)].size);
  }

  /** Copy n floats of a storage buffer to the host (the only place this executor maps a buffer). */
  private async readBack(src: GPUBuffer, n: number): Promise<Float32Array> {
    if (n === 0) return new Float32Array(0);
    const bytes = n * 4;
    const staging = this.device.createBuffer({ size: bytes, usage: GPU_BUFFER_USAGE.MAP_READ | GPU_BUFFER_USAGE.COPY_DST });
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(src, 0, staging, 0, bytes);
      this.device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPU_MAP_MODE_READ, 0, bytes);
      return new Float32Array(staging.getMappedRange(0, bytes).slice(0));
    } finally {
      staging.destroy();
    }
  }

  async assign(pairs: [from: string, to: string][]): Promise<void> {
    this.alive();
    const moves = pairs.map(([from, to]) => {
      const fromId = this.named(from);
      const h = this.handle(fromId);
      if (!h) throw new Error(`${this.backend}: '${from}' has not been computed yet (call run())`);
      const id = this.leaf(to);
      if (this.plan.buffers[fromId].size !== this.plan.buffers[id].size) {
        throw new Error(`${this.backend}: cannot assign '${from}' (${this.plan.buffers[fromId].size} elements) to '${to}' (${this.plan.buffers[id].size})`);
      }
      return [id, h.clone()] as const; // a second reference to the same GPU buffer
    });
    for (const [id, h] of moves) {
      const old = this.leaves.get(id)!;
      this.leaves.set(id, h);
      this.owned.delete(old);
      old.delete();
    }
  }

  protected release(): void {
    for (const h of this.temps.values()) h.delete();
    this.temps.clear();
    for (const h of this.leaves.values()) h.delete();
    this.leaves.clear();
    this.owned.clear();
    this.dummy?.delete();
    this.dummy = null;
  }
}
