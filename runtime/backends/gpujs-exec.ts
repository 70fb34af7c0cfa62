/**
 * Kernel plans on gpu.js: one gpu.js kernel per plan kernel, rendered from a string by
 * compiler/codegen/gpujs.ts (the same source for every mode), with every shape a literal.
 *
 * Two executors behind one Backend:
 *  - webgpu (gpujs-webgpu-exec.ts): device-resident. Leaves (inputs, parameters, constants) live in
 *    GPU buffers that this backend owns: `set()` writes them in place with `queue.writeBuffer` (no
 *    kernel ever re-uploads them), kernels run with `pipeline: true, immutable: true` and take the
 *    previous kernels' buffer handles directly, each temp handle is `delete()`d right after its
 *    last reader (last uses come from the plan), plan outputs stay on the device until `read()`
 *    copies one back, and `assign()` makes an output's buffer the leaf's new buffer (a handle clone
 *    — no copy, no readback).
 *  - cpu, webasm, headlessgl, webgl2 (gpujs-host-exec.ts): host-resident. Buffers are
 *    Float32Arrays; each kernel returns a fresh array (webasm: sliced out of wasm memory; 2-D
 *    results are views of one array and are re-viewed flat, not copied; cpu rows are copied once),
 *    `assign()` re-points the leaf at the output array. On the GL modes a pipeline of textures
 *    would avoid the readback between kernels; they are untested here (no GL in this environment),
 *    so they take the simple, correct path.
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
import type { KernelPlan } from '../../compiler/fuse/kernel-ir.ts';
import type { Backend } from '../executable.ts';
import { createGPU, probeMode } from './gpujs-modes.ts';
import { HostExec } from './gpujs-host-exec.ts';
import { loadGpuJs } from './gpujs-module.ts';
import type { GpuJsBackendMode, GpuJsBackendOptions, GpuJsExecutable } from './gpujs-plan-exec.ts';
import { WebGpuExec } from './gpujs-webgpu-exec.ts';

export type { GpuJsBackendMode, GpuJsBackendOptions, GpuJsExecutable, GpuJsKernelStats } from './gpujs-plan-exec.ts';

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
      const gpu = mode === 'webgl2' ? new (await loadGpuJs()).GPU({ mode: 'webgl2' }) : await createGPU(mode);
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
      if (!(await loadGpuJs()).GPU.isWebGL2Supported) return { ok: false, reason: 'no WebGL2 context here (webgl2 runs in a browser; in Node use headlessgl)' };
      return { ok: true };
    }
    const info = await probeMode(mode);
    return info.available ? { ok: true } : { ok: false, reason: info.reason ?? 'probe kernel failed' };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}
