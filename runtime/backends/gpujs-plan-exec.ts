/// <reference types="@webgpu/types" />
// What both gpu.js executors (gpujs-host-exec.ts, gpujs-webgpu-exec.ts) share: rendering, liveness,
// argument checks, kernel building; and the gpu.js internals they reach. Design and traps: the
// header of gpujs-exec.ts.
import type { GPU as GPUJS, IKernelRunShortcut } from 'gpu.js';
import { renderGpuJs, type RenderedGpuJsKernel } from '../../compiler/codegen/gpujs.ts';
import type { BufferId, Kernel, KernelPlan } from '../../compiler/fuse/kernel-ir.ts';
import type { Executable } from '../executable.ts';
import { kernelMode } from './gpujs-modes.ts';

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

export type KernelFn = IKernelRunShortcut & ((...args: unknown[]) => unknown);

export { gpujs, type WebGPUHandle } from './gpujs-module.ts';

interface Prepared {
  k: Kernel;
  r: RenderedGpuJsKernel;
  fn: KernelFn;
}

export abstract class PlanExec implements GpuJsExecutable {
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
