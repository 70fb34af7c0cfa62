// The page's training backends, best first: WebGPU through gpu.js where the browser has it, WebGL2
// otherwise, gpu.js's WebAssembly CPU path as the last resort. Each is probed by running a kernel
// (gpu.js falls back silently otherwise); `auto` takes the first that works.
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
    out.push(a.ok ? { name, ok: true } : { name, ok: false, reason: a.reason });
  }
  return out;
}

export const autoChoice = (probed: Probed[]): PageBackend | undefined => probed.find((p) => p.ok)?.name;
