// The page's training backends, best first: WebGPU through gpu.js where the browser has it, WebGL2
// otherwise, gpu.js's WebAssembly CPU path as the last resort. Each is probed by running a kernel
// (gpu.js falls back silently otherwise); `auto` takes the first that works.
/// <reference types="@webgpu/types" />
import type { Backend } from '../../runtime/executable.ts';
import { gpuJsBackend } from '../../runtime/backends/gpujs-exec.ts';
import { referenceBackend } from '../../runtime/backends/reference-exec.ts';

export const PAGE_BACKENDS = ['webgpu', 'webgl2', 'webasm'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

export const LABELS: Record<PageBackend, string> = { webgpu: 'WebGPU', webgl2: 'WebGL2', webasm: 'WebAssembly (CPU)' };

export interface Probed {
  name: PageBackend;
  ok: boolean;
  reason?: string;
  /** WebGPU: the adapter (e.g. 'google / swiftshader'); WebGL2: the renderer. */
  device?: string;
}

const made = new Map<PageBackend, Backend>();

export function backend(name: PageBackend): Backend {
  if (!made.has(name)) made.set(name, gpuJsBackend(name));
  return made.get(name)!;
}

/** The CPU oracle a GPU run is compared with: the float64 reference executor of the same plan. */
export const cpuReference: Backend = referenceBackend;

export async function probeAll(): Promise<Probed[]> {
  const out: Probed[] = [];
  // One at a time: gpu.js backends share module state.
  for (const name of PAGE_BACKENDS) {
    const a = await backend(name).available();
    out.push(a.ok ? { name, ok: true, device: await device(name) } : { name, ok: false, reason: a.reason });
  }
  return out;
}

/** Which device a GPU backend runs on, as the browser names it (a software rasteriser shows here). */
async function device(name: PageBackend): Promise<string | undefined> {
  try {
    if (name === 'webgpu') {
      const adapter = await (navigator as Navigator & { gpu?: GPU }).gpu?.requestAdapter();
      const info = adapter?.info;
      return info ? [info.vendor, info.architecture, info.description].filter(Boolean).join(' / ') || undefined : undefined;
    }
    if (name === 'webgl2') {
      const gl = document.createElement('canvas').getContext('webgl2');
      if (!gl) return undefined;
      const ext = gl.getExtension('WEBGL_debug_renderer_info');
      const renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
      gl.getExtension('WEBGL_lose_context')?.loseContext();
      return renderer;
    }
  } catch {
    /* the name is only informative */
  }
  return undefined;
}

/** Software rasterisers that give a browser WebGPU/WebGL2 without a GPU: correct, slower than WebAssembly. */
const SOFTWARE_GPU = /swiftshader|llvmpipe|lavapipe|softpipe|software/i;
export const isSoftware = (p: Probed) => p.name !== 'webasm' && SOFTWARE_GPU.test(p.device ?? '');

/** The first backend that runs, a GPU on a software rasteriser only after WebAssembly (as `lily train --backend auto`). */
export function autoChoice(probed: Probed[]): PageBackend | undefined {
  const ok = probed.filter((p) => p.ok);
  return (ok.find((p) => !isSoftware(p)) ?? ok[0])?.name;
}
