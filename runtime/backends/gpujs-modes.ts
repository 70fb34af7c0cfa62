/**
 * Which gpu.js modes actually run in this process, and a factory for them.
 *
 * Traps (measured with gpu.js 2.24.1, Node 20, no GPU):
 *  - `new GPU({ mode })` only checks `Kernel.isSupported`; a kernel that
 *    fails to build later silently falls back to `cpu` (with a console.warn
 *    "Falling back to CPU"). The probe therefore runs a kernel and checks the
 *    mode of the kernel that actually ran (`kernelMode()`), not the mode asked.
 *  - `webgpu` is never auto-selected by gpu.js (it is opt-in) and needs
 *    `navigator.gpu`, which Node does not have: `createGPU('webgpu')` calls
 *    `openWebGPU()` first, which installs the shim. Every webgpu kernel call
 *    returns a Promise, even without `pipeline`.
 *  - `headlessgl` needs the optional `gl` package (native, builds from
 *    source) AND a display (`xvfb-run -a`); without both it is unavailable
 *    and the probe says which.
 *  - A `cpu` kernel with no output set aborts the process with an
 *    uncatchable V8 error: every probe kernel sets its output.
 *  - `webasm` runs on one thread unless `setAsyncMode(true)`; the async
 *    variant is a setting on a webasm kernel, not a separate mode, so it is
 *    reported as `webasm` with `asyncThreads`.
 */
import type { GPU as GPUJS, IKernelRunShortcut } from 'gpu.js';
import { loadGpuJs } from './gpujs-module.ts';

export type GpuJsMode = 'cpu' | 'webasm' | 'webgpu' | 'headlessgl';
export const GPUJS_MODES: readonly GpuJsMode[] = ['cpu', 'webasm', 'webgpu', 'headlessgl'];

export interface ModeInfo {
  mode: GpuJsMode;
  available: boolean;
  /** why it is unavailable (or a note when available, e.g. the WebGPU adapter) */
  reason?: string;
  /** ms spent creating + running the probe kernel */
  probeMs: number;
  /** webasm only: whether gpu.js can spread async-mode kernels over worker threads */
  asyncThreads?: boolean;
}

/**
 * Node-only helpers (Dawn for WebGPU, headless-gl), loaded on first use. A browser has
 * `navigator.gpu` itself; its bundle swaps this module for a stub (playground/vite.config.ts).
 */
const nodeOnly = () => import('./gpujs-modes-node.ts');

const inNode = () => Boolean((globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node);

/**
 * A gpu.js GPU instance running in `mode`. For `webgpu` this first opens
 * Dawn (installing `navigator.gpu`) and rejects with the reason when WebGPU
 * is unavailable. No silent fallback to another mode at this level.
 */
export async function createGPU(mode: GpuJsMode): Promise<GPUJS> {
  if (mode === 'webgpu' && inNode()) {
    const r = await (await nodeOnly()).openWebGPU();
    if ('error' in r) throw new Error(`webgpu unavailable: ${r.error}`);
  }
  if (mode === 'headlessgl') {
    const why = (await nodeOnly()).headlessGlMissing();
    if (why) throw new Error(`headlessgl unavailable: ${why}`);
  }
  const { GPU } = await loadGpuJs();
  return new GPU({ mode });
}

/** The mode of the backend that actually ran a kernel (after its first call). */
export function kernelMode(k: IKernelRunShortcut): string | undefined {
  const inner = (k as unknown as { kernel?: { constructor?: { mode?: string } } }).kernel;
  return inner?.constructor?.mode;
}

const PROBE_SRC = `function(a) { return a[this.thread.x] * 2 + 1; }`;

/** Probe one mode with a tiny kernel built from a string. Never throws. */
export async function probeMode(mode: GpuJsMode): Promise<ModeInfo> {
  const t0 = performance.now();
  const done = (available: boolean, reason?: string, extra: Partial<ModeInfo> = {}): ModeInfo => ({
    mode,
    available,
    ...(reason !== undefined ? { reason } : {}),
    probeMs: Math.round(performance.now() - t0),
    ...extra,
  });
  let gpu: GPUJS | undefined;
  try {
    gpu = await createGPU(mode);
    const k = gpu.createKernel(PROBE_SRC).setOutput([4]);
    const out = (await k([1, 2, 3, 4])) as Float32Array | number[];
    const ran = kernelMode(k);
    if (ran !== mode) return done(false, `kernel ran in '${ran}' instead (gpu.js fell back)`);
    const want = [3, 5, 7, 9];
    if (!want.every((v, i) => out[i] === v)) return done(false, `wrong result ${Array.from(out).join(',')}`);
    let note: string | undefined;
    if (mode === 'webgpu' && inNode()) {
      const r = await (await nodeOnly()).openWebGPU();
      if (!('error' in r)) note = r.adapterInfo;
    }
    const extra: Partial<ModeInfo> = {};
    if (mode === 'webasm') {
      const { WebAssemblyKernel } = await loadGpuJs();
      extra.asyncThreads = Boolean(WebAssemblyKernel.isThreadsSupported);
    }
    return done(true, note, extra);
  } catch (e) {
    return done(false, e instanceof Error ? e.message : String(e));
  } finally {
    try {
      await gpu?.destroy();
    } catch {
      /* destroy of a half-built instance */
    }
  }
}

/** Probe every mode (sequentially: gpu.js backends share module state). */
export async function availableModes(modes: readonly GpuJsMode[] = GPUJS_MODES): Promise<ModeInfo[]> {
  const out: ModeInfo[] = [];
  for (const m of modes) out.push(await probeMode(m));
  return out;
}
