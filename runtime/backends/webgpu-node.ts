/// <reference types="@webgpu/types" />
/**
 * WebGPU in Node through Dawn (`webgpu` npm package, 0.6.x), plus the
 * `navigator.gpu` shim gpu.js needs to run its `webgpu` mode.
 *
 * openWebGPU() never throws and never takes the process down when WebGPU is
 * unavailable: it returns `{ error }` instead.
 *
 * Recipe (probed on Debian 12, Node 20, no GPU, and kept in this order):
 *   1. `create([])` + `requestAdapter({ powerPreference: 'high-performance' })`
 *      — Dawn's default backend (Vulkan on Linux). This is the path on a
 *      machine with a real GPU. Without one it resolves `null` (Dawn prints
 *      "Couldn't load Vulkan: libvulkan.so.1" to stderr; harmless).
 *   2. `create(['backend=opengles'])` + `requestAdapter({ featureLevel:
 *      'compatibility' })` with `EGL_PLATFORM=surfaceless` — Mesa llvmpipe,
 *      needs `apt-get install -y libegl-mesa0 libgl1-mesa-dri libgbm1`.
 *
 * Traps (measured here unless marked):
 *  - gpu.js pins webgpu@0.2.9, whose dawn.node needs glibc 2.38 while
 *    Debian 12 has 2.36, so it fails to load (per ENVIRONMENT.md; not
 *    re-downloaded here). package.json has `"webgpu": "0.6.2"` as a
 *    direct dependency and `"overrides": { "webgpu": "$webgpu" }`, so gpu.js's
 *    own dependency dedupes to 0.6.2. gpu.js never imports `webgpu` itself: it
 *    only reads `navigator.gpu`, which is why the shim below is what "makes
 *    gpu.js use it".
 *  - gpu.js calls `navigator.gpu.requestAdapter()` WITHOUT options. On the
 *    OpenGL ES backend that returns null: the adapter only exists at
 *    `featureLevel: 'compatibility'`. The shim therefore forwards
 *    requestAdapter with the options that worked here merged in.
 *  - Without `EGL_PLATFORM=surfaceless` (and no X/Wayland display), Dawn's EGL
 *    check fails and the opengles adapter is null. Setting
 *    `process.env.EGL_PLATFORM` at run time, before the first `create()`,
 *    is enough (Node's env setter calls setenv(), Mesa reads it at
 *    eglGetDisplay time). We only set it when the user has not.
 *  - Compatibility mode caps a workgroup at 128 invocations unless the device
 *    requests more; gpu.js uses 64 (1-D) or 8×8 (2-D), so it fits.
 *  - Dawn logs warnings straight to the process's stderr from C++ (Vulkan
 *    missing, "maxDynamicUniformBuffersPerPipelineLayout artificially
 *    reduced"); they cannot be silenced from JS. The child-process probe
 *    below swallows the ones from failed candidates.
 *  - Node 20 has no `navigator`; Node ≥ 21 has a read-only-ish getter on
 *    globalThis. We define `gpu` on the existing object when there is one,
 *    else define a `navigator` global.
 *  - Native code can abort (not throw) on broken drivers. To keep the
 *    promise "never crashes", the first call probes the recipe in a child
 *    Node process (≈0.3–0.5 s, once per process) and only opens Dawn in this
 *    process on the candidate the child proved. Pass `{ probeInChild: false }`
 *    to skip that when you trust the machine.
 *  - `LILY_WEBGPU=0` disables WebGPU entirely (returns `{ error }`);
 *    `LILY_WEBGPU_BACKEND=default|opengles` forces one candidate.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { pathToFileURL } from 'node:url';

export interface WebGPUCandidate {
  /** label used in adapterInfo and LILY_WEBGPU_BACKEND */
  name: 'default' | 'opengles';
  /** flags for dawn.node's `create()` */
  createFlags: string[];
  /** merged into every `requestAdapter()` made through the shim */
  adapterOptions: GPURequestAdapterOptions;
  /** environment variables set (if unset) before `create()` */
  env: Record<string, string>;
}

export const WEBGPU_CANDIDATES: readonly WebGPUCandidate[] = [
  { name: 'default', createFlags: [], adapterOptions: { powerPreference: 'high-performance' }, env: {} },
  {
    name: 'opengles',
    createFlags: ['backend=opengles'],
    adapterOptions: { featureLevel: 'compatibility' } as GPURequestAdapterOptions,
    env: { EGL_PLATFORM: 'surfaceless' },
  },
];

export interface OpenedWebGPU {
  /** the shimmed GPU object (also installed as `navigator.gpu`); its requestAdapter applies the winning options */
  gpu: GPU;
  /** human-readable: backend candidate, device name, description */
  adapterInfo: string;
  /** the adapter found while probing (gpu.js requests its own through the shim) */
  adapter: GPUAdapter;
  /** which candidate won */
  backend: WebGPUCandidate['name'];
}

export interface OpenWebGPUOptions {
  /** probe in a child process first so a native abort cannot kill this process (default true) */
  probeInChild?: boolean;
  /** give up on a candidate after this many ms (default 15000) */
  timeoutMs?: number;
}

type DawnModule = { create: (flags: string[]) => GPU; globals: Record<string, unknown> };

let cached: Promise<OpenedWebGPU | { error: string }> | null = null;

/**
 * Open WebGPU once per process (cached). Resolves `{ gpu, adapterInfo }` or
 * `{ error }`; never rejects.
 */
export function openWebGPU(opts: OpenWebGPUOptions = {}): Promise<OpenedWebGPU | { error: string }> {
  if (!cached) {
    cached = openUncached(opts).catch((e: unknown) => ({ error: `openWebGPU: unexpected failure: ${errMessage(e)}` }));
  }
  return cached;
}

/**
 * Which WebGPU backend would work here, found in a child process only (nothing is loaded into this
 * one, so Dawn's start-up warnings stay out of the user's terminal): 'default' (Vulkan: a real
 * GPU) or 'opengles' (the llvmpipe recipe: a software rasteriser), or why none does.
 */
export async function probeWebGPU(timeoutMs = 15_000): Promise<{ name: WebGPUCandidate['name'] } | { error: string }> {
  if (process.env.LILY_WEBGPU === '0') return { error: 'WebGPU disabled by LILY_WEBGPU=0' };
  const cands = candidatesFromEnv();
  if ('error' in cands) return cands;
  let dawnPath: string;
  try {
    dawnPath = createRequire(import.meta.url).resolve('webgpu');
  } catch (e) {
    return { error: `the optional package 'webgpu' is not installed (npm i webgpu@0.6.2; ${errMessage(e).split('\n')[0]})` };
  }
  return probeInChild(dawnPath, cands, timeoutMs);
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function candidatesFromEnv(): WebGPUCandidate[] | { error: string } {
  const forced = process.env.LILY_WEBGPU_BACKEND;
  if (!forced) return [...WEBGPU_CANDIDATES];
  const c = WEBGPU_CANDIDATES.find((x) => x.name === forced);
  if (!c) return { error: `LILY_WEBGPU_BACKEND=${forced} is not one of ${WEBGPU_CANDIDATES.map((x) => x.name).join(', ')}` };
  return [c];
}

async function openUncached(opts: OpenWebGPUOptions): Promise<OpenedWebGPU | { error: string }> {
  if (process.env.LILY_WEBGPU === '0') return { error: 'WebGPU disabled by LILY_WEBGPU=0' };
  const cands = candidatesFromEnv();
  if ('error' in cands) return cands;
  const timeoutMs = opts.timeoutMs ?? 15_000;

  let dawnPath: string;
  try {
    dawnPath = createRequire(import.meta.url).resolve('webgpu');
  } catch (e) {
    return { error: `the optional package 'webgpu' is not installed (npm i webgpu@0.6.2; ${errMessage(e).split('\n')[0]})` };
  }

  let order = cands;
  if (opts.probeInChild !== false) {
    const probe = await probeInChild(dawnPath, cands, timeoutMs);
    if ('error' in probe) return probe;
    order = cands.filter((c) => c.name === probe.name);
  }

  let dawn: DawnModule;
  try {
    dawn = (await import(pathToFileURL(dawnPath).href)) as DawnModule;
  } catch (e) {
    // e.g. the 0.2.9 binary: "version `GLIBC_2.38' not found"
    return { error: `cannot load dawn.node from 'webgpu': ${errMessage(e)}` };
  }
  for (const [k, v] of Object.entries(dawn.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }

  const failures: string[] = [];
  for (const cand of order) {
    for (const [k, v] of Object.entries(cand.env)) process.env[k] ??= v;
    try {
      const real = dawn.create(cand.createFlags);
      const adapter = await withTimeout(real.requestAdapter(cand.adapterOptions), timeoutMs, 'requestAdapter');
      if (!adapter) {
        failures.push(`${cand.name}: no adapter`);
        continue;
      }
      const gpu = shimGPU(real, cand.adapterOptions);
      installNavigator(gpu);
      return { gpu, adapter, backend: cand.name, adapterInfo: describeAdapter(cand.name, adapter) };
    } catch (e) {
      failures.push(`${cand.name}: ${errMessage(e)}`);
    }
  }
  return { error: `no WebGPU adapter (${failures.join('; ')})` };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function describeAdapter(backend: string, adapter: GPUAdapter): string {
  const info = adapter.info;
  const parts = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s && s.length > 0);
  const fl = (adapter as unknown as { featureLevel?: string }).featureLevel;
  return `${backend}: ${parts.join(' / ') || 'unknown adapter'}${fl ? ` (featureLevel ${fl})` : ''}`;
}

/**
 * Wrap Dawn's GPU so option-less `requestAdapter()` calls (gpu.js makes one)
 * get the options that worked. Dawn's methods are native and must be called
 * with the real object as `this`, hence explicit forwarding, not a prototype.
 */
function shimGPU(real: GPU, adapterOptions: GPURequestAdapterOptions): GPU {
  const shim = {
    requestAdapter: (o?: GPURequestAdapterOptions) => real.requestAdapter({ ...adapterOptions, ...(o ?? {}) }),
    getPreferredCanvasFormat: () => real.getPreferredCanvasFormat(),
    get wgslLanguageFeatures() {
      return real.wgslLanguageFeatures;
    },
    /** the unshimmed Dawn instance; keeps it reachable for as long as the shim lives */
    dawn: real,
  };
  return shim as unknown as GPU;
}

function installNavigator(gpu: GPU): void {
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  if (g.navigator && typeof g.navigator === 'object') {
    try {
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
      if (g.navigator.gpu === gpu) return;
    } catch {
      /* fall through: replace the global */
    }
  }
  Object.defineProperty(globalThis, 'navigator', {
    value: { gpu, hardwareConcurrency: os.availableParallelism?.() ?? os.cpus().length },
    configurable: true,
    writable: true,
  });
}

/** The probe the child runs: prints one JSON line `{ok, name}` or `{ok:false, errors}`. */
const CHILD_SCRIPT = `
const [dawnPath, candsJson, timeoutMs] = process.argv.slice(-3);
const cands = JSON.parse(candsJson);
const errors = [];
try {
  const { create } = await import(dawnPath);
  for (const c of cands) {
    for (const [k, v] of Object.entries(c.env)) if (process.env[k] === undefined) process.env[k] = v;
    try {
      const gpu = create(c.createFlags);
      const adapter = await Promise.race([gpu.requestAdapter(c.adapterOptions),
        new Promise((_, rej) => setTimeout(() => rej(new Error('requestAdapter timed out')), +timeoutMs).unref())]);
      if (!adapter) { errors.push(c.name + ': no adapter'); continue; }
      const device = await adapter.requestDevice();
      device.destroy();
      process.stdout.write(JSON.stringify({ ok: true, name: c.name }) + '\\n');
      process.exit(0);
    } catch (e) { errors.push(c.name + ': ' + (e && e.message || e)); }
  }
} catch (e) { errors.push('load: ' + (e && e.message || e)); }
process.stdout.write(JSON.stringify({ ok: false, errors }) + '\\n');
process.exit(0);
`;

function probeInChild(
  dawnPath: string,
  cands: WebGPUCandidate[],
  timeoutMs: number,
): Promise<{ name: WebGPUCandidate['name'] } | { error: string }> {
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    let settled = false;
    const done = (r: { name: WebGPUCandidate['name'] } | { error: string }) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    let child;
    try {
      child = spawn(
        process.execPath,
        ['--input-type=module', '-e', CHILD_SCRIPT, '--', pathToFileURL(dawnPath).href, JSON.stringify(cands), String(timeoutMs)],
        { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
      );
    } catch (e) {
      done({ error: `cannot spawn WebGPU probe: ${errMessage(e)}` });
      return;
    }
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ error: `WebGPU probe timed out after ${timeoutMs * cands.length + 5000} ms` });
    }, timeoutMs * cands.length + 5000);
    killer.unref();
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => done({ error: `WebGPU probe failed to start: ${e.message}` }));
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(line) as { ok: boolean; name?: WebGPUCandidate['name']; errors?: string[] };
        if (r.ok && r.name) return done({ name: r.name });
        return done({ error: `no WebGPU adapter (${(r.errors ?? []).join('; ')})` });
      } catch {
        const tail = err.trim().split('\n').slice(-3).join(' | ');
        done({ error: `WebGPU probe process died (code ${code}, signal ${signal})${tail ? `: ${tail}` : ''}` });
      }
    });
  });
}
