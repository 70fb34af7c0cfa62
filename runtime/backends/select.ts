// --backend auto|webgpu|webgl2|headlessgl|webasm|gpujs-cpu|cpu|reference: one place that maps a name
// to a Backend. `auto` takes WebGPU when it runs on a real GPU, and otherwise the fast CPU path
// (generated JS + WebAssembly SIMD GEMM), saying which and why.
import type { Backend } from '../executable.ts';
import { cpuBackend } from './cpu-exec.ts';
import { gpuJsBackend, type GpuJsBackendMode } from './gpujs-exec.ts';
import { referenceBackend } from './reference-exec.ts';
import { openWebGPU, probeWebGPU } from './webgpu-node.ts';
import { LilyError } from '../../compiler/diagnostics.ts';

const GPUJS: Record<string, GpuJsBackendMode> = { webgpu: 'webgpu', webgl2: 'webgl2', headlessgl: 'headlessgl', webasm: 'webasm', 'gpujs-cpu': 'cpu' };

export const BACKEND_NAMES = ['auto', 'cpu', 'webgpu', 'webgl2', 'headlessgl', 'webasm', 'gpujs-cpu', 'reference'];

/** Software rasterisers that expose WebGPU without a GPU: correct, but slower than the CPU path. */
const SOFTWARE_GPU = /llvmpipe|swiftshader|lavapipe|softpipe/i;

/**
 * A backend by name (`auto`, `cpu`, `webgpu`, `webgl2`, `headlessgl`, `webasm`, `gpujs-cpu`,
 * `reference`). `auto` takes WebGPU only on a real GPU and otherwise the CPU path; `note` says which
 * and why. The gpu.js modes need the optional package gpu.js, WebGPU also webgpu.
 * @throws {LilyError} E-usage for an unknown or unavailable backend
 */
export async function resolveBackend(name: string): Promise<{ backend: Backend; note?: string }> {
  if (name === 'reference') return { backend: referenceBackend };
  if (name === 'cpu') return { backend: cpuBackend() };
  if (GPUJS[name]) {
    const b = gpuJsBackend(GPUJS[name]);
    const ok = await b.available();
    if (!ok.ok) throw new LilyError([{ code: 'E-usage', message: `backend '${name}' is not available here: ${ok.reason}` }]);
    return { backend: b };
  }
  if (name !== 'auto') throw new LilyError([{ code: 'E-usage', message: `unknown backend '${name}'`, expected: BACKEND_NAMES.join(', ') }]);
  const probe = await probeWebGPU();
  if ('error' in probe) return { backend: cpuBackend(), note: `auto: no WebGPU (${probe.error.split('\n')[0].slice(0, 80)}); using the CPU path` };
  // The OpenGL ES recipe is the no-GPU fallback (Mesa llvmpipe): correct, slower than the CPU path.
  if (probe.name === 'opengles') return { backend: cpuBackend(), note: 'auto: WebGPU here runs on a software rasteriser (llvmpipe); the CPU path is faster' };
  const gpu = await openWebGPU();
  if ('error' in gpu) return { backend: cpuBackend(), note: `auto: WebGPU failed to open (${gpu.error.slice(0, 80)}); using the CPU path` };
  if (SOFTWARE_GPU.test(gpu.adapterInfo)) return { backend: cpuBackend(), note: `auto: WebGPU here is a software rasteriser (${gpu.adapterInfo.slice(0, 40)}…); the CPU path is faster` };
  const b = gpuJsBackend('webgpu');
  const ok = await b.available();
  return ok.ok ? { backend: b, note: `auto: WebGPU on ${gpu.adapterInfo}` } : { backend: cpuBackend(), note: `auto: WebGPU failed (${ok.reason}); using the CPU path` };
}
