// Loading initial values on two threads (Node): the big uniform and normal draws (the whole model's
// ~10⁷ frozen weights) shared between this thread and one worker, each claiming the next job from a
// shared counter and drawing it straight into the backend's buffer, which must then be shared memory
// (the CPU backend's block on its threaded path); uniform draws go four tensors to a job, one stream in
// each SIMD lane (uniformWasmInto4). The worker runs the very functions this thread runs (their source,
// and the same WebAssembly module: uniform-wasm.ts), so the numbers are the same whoever draws them.
// Everything else (small tensors, constants, values that exist) is written here meanwhile.
import { Worker } from 'node:worker_threads';
import { numel, type Tensor } from '../tensor/tensor.ts';
import { drawInto, pendingRecipe, writeFloat32 } from './drawn.ts';
import { boxMullerPairs, normalPairsInto, rngAt } from './rng.ts';
import { uniformWasm, uniformWasmInto, uniformWasmInto4, uniformWasmModule, uniformWasmOf } from './uniform-wasm.ts';

/** tensors smaller than this are drawn here: a worker's share is worth a message only above it */
export const THREAD_MIN_VALUES = 1 << 15;

/** a uniform draw in [a, b), or a normal one of mean a and deviation b, from state s (and a pending normal, NaN for none) */
interface DrawJob {
  kind: 'uniform' | 'normal';
  a: number;
  b: number;
  s: number[];
  spare: number;
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}

/** four uniform draws at once (uniformWasmInto4: one stream in each SIMD lane) */
interface QuadJob {
  kind: 'uniform4';
  parts: DrawJob[];
}

/**
 * Box–Muller of `pairs` pairs of uniforms (from u at uOffset, in bytes) into float64 normals of mean a
 * and deviation b (into buffer at byteOffset): a part of one big float64 draw (normal-threads.ts).
 */
export interface PairsJob {
  kind: 'pairs';
  u: SharedArrayBuffer;
  uOffset: number;
  buffer: SharedArrayBuffer;
  byteOffset: number;
  pairs: number;
  a: number;
  b: number;
}

type Job = DrawJob | QuadJob | PairsJob;

/** values a job writes (the biggest jobs go first: the two threads end close together) */
const jobValues = (j: DrawJob | QuadJob) => (j.kind === 'uniform4' ? j.parts.reduce((n, p) => n + p.length, 0) : j.length);

/** The uniform draws four at a time (alike in length: the rest of each is drawn one stream at a time), the others as they are; the biggest first. */
function inQuads(jobs: DrawJob[]): (DrawJob | QuadJob)[] {
  const uniform = jobs.filter((j) => j.kind === 'uniform').sort((a, b) => b.length - a.length);
  const out: (DrawJob | QuadJob)[] = jobs.filter((j) => j.kind !== 'uniform');
  let k = 0;
  for (; k + 4 <= uniform.length; k += 4) out.push({ kind: 'uniform4', parts: uniform.slice(k, k + 4) });
  return [...out, ...uniform.slice(k)].sort((a, b) => jobValues(b) - jobValues(a));
}

// The worker: claims jobs from ctl[0], marks each done in ctl[2 + i] and counts it in ctl[1] (waking
// a caller waiting on it: normal-threads.ts), answers with the run's id when no job is left.
// (`__name`: what a keep-names transpiler may wrap functions in.)
const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
var __name = (f) => f;
const uniformWasmOf = (${uniformWasmOf.toString()});
const uniformWasmInto = (${uniformWasmInto.toString()});
const uniformWasmInto4 = (${uniformWasmInto4.toString()});
const boxMullerPairs = (${boxMullerPairs.toString()});
const normalPairsInto = (${normalPairsInto.toString()});
const wasm = uniformWasmOf(workerData.module);
const drew = new Int32Array(workerData.drew);
parentPort.on('message', ({ id, ctl, jobs }) => {
  const c = new Int32Array(ctl);
  for (let i; (i = Atomics.add(c, 0, 1)) < jobs.length; ) {
    const j = jobs[i];
    const target = (t) => new Float32Array(t.buffer, t.byteOffset, t.length);
    if (j.kind === 'pairs') {
      boxMullerPairs(new Float64Array(j.u, j.uOffset, 2 * j.pairs), 0, new Float64Array(j.buffer, j.byteOffset, 2 * j.pairs), 0, j.pairs, j.a, j.b);
    } else if (j.kind === 'uniform4') {
      const p = j.parts;
      uniformWasmInto4(wasm, p.map((q) => Uint32Array.from(q.s)), p.map(target), p.map((q) => q.a), p.map((q) => q.b));
    } else {
      const s = Uint32Array.from(j.s);
      if (j.kind === 'uniform') uniformWasmInto(wasm, s, target(j), j.a, j.b);
      else normalPairsInto((u) => uniformWasmInto(wasm, s, u, 0, 1), target(j), j.a, j.b, j.spare);
    }
    // counted before the job is (a caller woken by the count reads these counters)
    if (j.kind === 'pairs') Atomics.add(drew, 2, 1);
    else Atomics.add(drew, 0, j.kind === 'uniform4' ? 4 : 1);
    if (j.kind === 'uniform4') Atomics.add(drew, 1, 1);
    Atomics.store(c, 2 + i, 1);
    Atomics.add(c, 1, 1);
    Atomics.notify(c, 1);
  }
  parentPort.postMessage(id);
});
Atomics.store(drew, 3, 1); // ready, for a caller that cannot wait for the message (normal-threads.ts)
parentPort.postMessage(-1); // ready
`;

class DrawWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, () => void>();
  private nextId = 0;
  dead = false;
  /** tensors the worker has drawn so far (it counts them in shared memory; [1], [2]: see below; [3]: 1 once ready) */
  private readonly drewCount = new Int32Array(new SharedArrayBuffer(16));
  get drew(): number {
    return Atomics.load(this.drewCount, 0);
  }
  /** jobs of four uniform draws at once among them */
  get drewQuads(): number {
    return Atomics.load(this.drewCount, 1);
  }
  /** parts of float64 normal draws it has drawn (PairsJob) */
  get drewPairs(): number {
    return Atomics.load(this.drewCount, 2);
  }
  /** resolves true once the worker takes jobs (false: it died first) */
  readonly ready: Promise<boolean>;
  /**
   * The same, known without waiting: a synchronous caller (normal-threads.ts), whose process may not
   * have run its event loop since (back-to-back compiles), reads the worker's flag in shared memory.
   */
  get isReady(): boolean {
    return Atomics.load(this.drewCount, 3) === 1;
  }

  constructor(module: WebAssembly.Module) {
    // execArgv: []: the parent's flags (--import tsx) would load a TypeScript hook the worker does not need
    this.worker = new Worker(WORKER_SRC, { eval: true, execArgv: [], workerData: { module, drew: this.drewCount.buffer } });
    let started: (ok: boolean) => void = () => {};
    this.ready = new Promise((resolve) => (started = resolve));
    this.worker.on('message', (id: number) => {
      if (id < 0) return started(true);
      this.waiting.get(id)?.();
      this.waiting.delete(id);
      if (!this.waiting.size) this.worker.unref();
    });
    // idle, it never keeps the process alive: unref'd after the 'message' listener, whose addition
    // refs the worker's port (unref'd before it, a worker that was started but never offered a job,
    // as for PiSSA whose big leaves are computed, kept `lily compile` from exiting)
    this.worker.unref();
    const die = () => {
      this.dead = true;
      started(false);
      for (const done of this.waiting.values()) done();
      this.waiting.clear();
    };
    this.worker.on('error', die);
    this.worker.on('exit', die);
  }

  /** Offer the jobs; resolves once the worker has finished every job it claimed (or died). */
  offer(ctl: SharedArrayBuffer, jobs: Job[]): Promise<void> {
    const id = this.nextId++;
    this.worker.ref(); // a process awaiting this must not exit under it
    const answered = new Promise<void>((resolve) => this.waiting.set(id, resolve));
    this.worker.postMessage({ id, ctl, jobs });
    return answered;
  }
}

let shared: DrawWorker | null | undefined;

/** The process's draw worker, started on first use; null where there is none (no workers or no WebAssembly). */
function drawWorker(): DrawWorker | null {
  if (shared?.dead) shared = null;
  if (shared !== undefined) return shared;
  const module = uniformWasmModule();
  try {
    shared = module ? new DrawWorker(module) : null;
  } catch {
    shared = null;
  }
  return shared;
}

/** The process's draw worker where it has started and is ready for jobs (never starts one). */
export function readyDrawWorker(): { offer(ctl: SharedArrayBuffer, jobs: PairsJob[]): Promise<void> } | null {
  return shared && !shared.dead && shared.isReady ? shared : null;
}

/** Start the draw worker now (it takes ~20 ms to start), where a load of `bigTensors` tensors is coming that it could share. */
export function startDrawWorker(bigTensors: number, threads: number): void {
  if (threads >= 2 && bigTensors >= 2 && typeof SharedArrayBuffer === 'function') drawWorker();
}

/** The draw worker's state, for tests and measurements: started (resolves once it takes jobs, false if it cannot), tensors it drew, and jobs of four it drew them in. */
export function drawWorkerStats(): { ready: Promise<boolean>; drew: number; drewQuads: number; drewPairs: number } {
  const w = drawWorker();
  return { ready: w ? w.ready : Promise.resolve(false), drew: w?.drew ?? 0, drewQuads: w?.drewQuads ?? 0, drewPairs: w?.drewPairs ?? 0 };
}

/**
 * Write each tensor's values into its float32 array (writeFloat32's numbers), the big uniform and
 * normal draws into shared memory on two threads when `threads` is 2. `shareDraws` false leaves every
 * big draw to the worker (for tests: what it draws is then known).
 */
export async function loadFloat32(pairs: [Tensor, Float32Array][], threads: number, shareDraws = true): Promise<void> {
  const draws: DrawJob[] = [];
  const here: [Tensor, Float32Array][] = [];
  for (const [t, out] of pairs) {
    const recipe = threads >= 2 ? pendingRecipe(t) : undefined;
    const d = recipe?.draw;
    if (d && d.kind !== 'constant' && recipe.stream && out.length >= THREAD_MIN_VALUES && out.length === numel(t.shape) && out.buffer instanceof SharedArrayBuffer) {
      const st = recipe.stream().state();
      const [a, b] = d.kind === 'uniform' ? [d.low, d.high] : [d.mean, d.std];
      draws.push({ kind: d.kind, a, b, s: st.s, spare: st.hasSpare ? st.spare : NaN, buffer: out.buffer, byteOffset: out.byteOffset, length: out.length });
    } else here.push([t, out]);
  }
  const worker = draws.length >= 2 ? drawWorker() : null;
  if (!worker) {
    for (const [t, out] of pairs) writeFloat32(t, out);
    return;
  }
  const jobs = inQuads(draws);
  const ctl = new SharedArrayBuffer(4 * (2 + jobs.length));
  const c = new Int32Array(ctl);
  const workerDone = worker.offer(ctl, jobs);
  for (const [t, out] of here) writeFloat32(t, out);
  for (let i; shareDraws && (i = Atomics.add(c, 0, 1)) < jobs.length; ) {
    drawHere(jobs[i]!);
    Atomics.store(c, 2 + i, 1);
    Atomics.add(c, 1, 1);
  }
  if (!shareDraws || Atomics.load(c, 1) < jobs.length) await workerDone;
  // a worker that died mid-job left it unmarked: drawn again here
  for (let i = 0; i < jobs.length; i++) if (Atomics.load(c, 2 + i) === 0) drawHere(jobs[i]!);
}

/** A draw (or four) on this thread: the numbers the worker's would be. */
function drawHere(j: DrawJob | QuadJob): void {
  const wasm = j.kind === 'uniform4' ? uniformWasm() : null;
  if (j.kind !== 'uniform4') drawJob(j);
  else if (!wasm) j.parts.forEach(drawJob);
  else uniformWasmInto4(wasm, j.parts.map((p) => Uint32Array.from(p.s)), j.parts.map((p) => new Float32Array(p.buffer, p.byteOffset, p.length)), j.parts.map((p) => p.a), j.parts.map((p) => p.b));
}

function drawJob(j: DrawJob): void {
  const draw = j.kind === 'uniform' ? { kind: j.kind, low: j.a, high: j.b } : { kind: j.kind, mean: j.a, std: j.b };
  const hasSpare = !Number.isNaN(j.spare);
  drawInto(draw, new Float32Array(j.buffer, j.byteOffset, j.length), rngAt({ key: [0, 0, 0, 0], s: j.s, spare: hasSpare ? j.spare : 0, hasSpare }));
}
