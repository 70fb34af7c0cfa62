/// <reference types="@webgpu/types" />
// The device-resident gpu.js executor (webgpu): GPU buffers for leaves, temps freed at their last use,
// readback only in read(). See the header of gpujs-exec.ts for the design and the gpu.js traps.
import type { RenderedGpuJsKernel } from '../../compiler/codegen/gpujs.ts';
import type { BufferId } from '../../compiler/fuse/kernel-ir.ts';
import { gpujs, type KernelFn, PlanExec, type WebGPUHandle } from './gpujs-plan-exec.ts';

const GPU_BUFFER_USAGE = { MAP_READ: 0x0001, COPY_SRC: 0x0004, COPY_DST: 0x0008, STORAGE: 0x0080 };
const GPU_MAP_MODE_READ = 0x0001;

export class WebGpuExec extends PlanExec {
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
