// The host-resident gpu.js executor (cpu, webasm, headlessgl, webgl2): see the header of gpujs-exec.ts.
import type { GPU as GPUJS } from 'gpu.js';
import type { RenderedGpuJsKernel } from '../../compiler/codegen/gpujs.ts';
import type { BufferId, KernelPlan } from '../../compiler/fuse/kernel-ir.ts';
import { type GpuJsBackendMode, type GpuJsBackendOptions, type KernelFn, PlanExec } from './gpujs-plan-exec.ts';

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

export class HostExec extends PlanExec {
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
