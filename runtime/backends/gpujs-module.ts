// gpu.js, loaded once and shared by every gpu.js module here. A dynamic import works in both worlds:
// Node gets the CommonJS package (its exports as `default`), a bundler gets the browser build that
// package.json's `browser` field names (the playground). No `node:` import, so this stays bundle-safe.
/// <reference types="@webgpu/types" />
import type { GPU } from 'gpu.js';

/** A gpu.js WebGPU pipeline result: a refcounted device buffer. */
export interface WebGPUHandle {
  buffer: GPUBuffer & { _refs?: number };
  output: number[];
  delete(): void;
  clone(): WebGPUHandle;
}

/** gpu.js's public exports plus the internals the executors reach (see gpujs-exec.ts). */
export interface GpuJsModule {
  GPU: typeof GPU & { isWebGL2Supported?: boolean; isWebGPUSupported?: boolean };
  WebGPUContext: { acquire(): Promise<{ device: GPUDevice }> };
  WebGPUBufferResult: new (s: { buffer: GPUBuffer; output: number[]; context: unknown; kernel: unknown }) => WebGPUHandle;
  WebAssemblyKernel: { isThreadsSupported?: boolean };
}

let loaded: Promise<GpuJsModule> | undefined;
let ready: GpuJsModule | undefined;

export function loadGpuJs(): Promise<GpuJsModule> {
  loaded ??= import('gpu.js').then(
    (m) => (ready = ((m as { default?: unknown }).default ?? m) as GpuJsModule),
    (e: unknown) => {
      // An optional peer dependency of lily-lang (not installed by default: see README, "Install").
      const code = (e as { code?: string }).code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new Error("the optional package 'gpu.js' is not installed (npm i gpu.js)");
      throw e;
    },
  );
  return loaded;
}

/** The module after `loadGpuJs()` has resolved (every GPU instance is made after it has). */
export function gpujs(): GpuJsModule {
  if (!ready) throw new Error('internal: gpu.js used before loadGpuJs() resolved');
  return ready;
}
