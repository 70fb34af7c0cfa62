// Loading initial values on two threads (Node): the uniform draws (the whole model's ~10⁷ frozen
// weights) shared between this thread and one worker, each claiming the next tensor from a shared
// counter and drawing it straight into the backend's buffer, which must then be shared memory (the CPU
// backend's block on its threaded path). The worker runs the very functions this thread runs (their
// source, and the same WebAssembly module: uniform-wasm.ts), so the numbers are the same whoever draws
// them. Everything else (normal draws, constants, values that exist) is written here meanwhile.
import { Worker } from 'node:worker_threads';
import { numel, type Tensor } from '../tensor/tensor.ts';
import { drawInto, pendingRecipe, writeFloat32 } from './drawn.ts';
import { rngAt } from './rng.ts';
import { uniformWasmInto, uniformWasmModule, uniformWasmOf } from './uniform-wasm.ts';

/** tensors smaller than this are drawn here: a worker's share is worth a message only above it */
export const THREAD_MIN_VALUES = 1 << 15;

interface UniformJob {
  s: number[];
  low: number;
  high: number;
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}

// The worker: claims jobs from ctl[0], marks each done in ctl[2 + i] and counts it in ctl[1], answers
// with the run's id when no job is left. (`__name`: what a keep-names transpiler may wrap functions in.)
const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
var __name = (f) => f;
const uniformWasmOf = (${uniformWasmOf.toString()});
const uniformWasmInto = (${uniformWasmInto.toString()});
const wasm = uniformWasmOf(new WebAssembly.Instance(workerData.module, {}));
const drew = new Int32Array(workerData.drew);
parentPort.on('message', ({ id, ctl, jobs }) => {
  const c = new Int32Array(ctl);
  for (let i; (i = Atomics.add(c, 0, 1)) < jobs.length; ) {
    const j = jobs[i];
    uniformWasmInto(wasm, Uint32Array.from(j.s), new Float32Array(j.buffer, j.byteOffset, j.length), j.low, j.high);
    Atomics.store(c, 2 + i, 1);
    Atomics.add(c, 1, 1);
    Atomics.add(drew, 0, 1);
  }
  parentPort.postMessage(id);
});
parentPort.postMessage(-1); // ready
`;

class DrawWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, () => void>();
  private nextId = 0;
  dead = false;
  /** tensors the worker has drawn so far (it counts them in shared memory) */
  private readonly drewCount = new Int32Array(new SharedArrayBuffer(4));
  get drew(): number {
    return Atomics.load(this.drewCount, 0);
  }
  /** resolves true once the worker takes jobs (false: it died first) */
  readonly ready: Promise<boolean>;

  constructor(module: WebAssembly.Module) {
    // execArgv: []: the parent's flags (--import tsx) would load a TypeScript hook the worker does not need
    this.worker = new Worker(WORKER_SRC, { eval: true, execArgv: [], workerData: { module, drew: this.drewCount.buffer } });
    this.worker.unref(); // idle, it never keeps the process alive
    let started: (ok: boolean) => void = () => {};
    this.ready = new Promise((resolve) => (started = resolve));
    this.worker.on('message', (id: number) => {
      if (id < 0) return started(true);
      this.waiting.get(id)?.();
      this.waiting.delete(id);
      if (!this.waiting.size) this.worker.unref();
    });
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
  offer(ctl: SharedArrayBuffer, jobs: UniformJob[]): Promise<void> {
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

/** Start the draw worker now (it takes ~20 ms to start), where a load of `bigTensors` tensors is coming that it could share. */
export function startDrawWorker(bigTensors: number, threads: number): void {
  if (threads >= 2 && bigTensors >= 2 && typeof SharedArrayBuffer === 'function') drawWorker();
}

/** The draw worker's state, for tests and measurements: started (resolves once it takes jobs, false if it cannot), tensors it drew. */
export function drawWorkerStats(): { ready: Promise<boolean>; drew: number } {
  const w = drawWorker();
  return { ready: w ? w.ready : Promise.resolve(false), drew: w?.drew ?? 0 };
}

/**
 * Write each tensor's values into its float32 array (writeFloat32's numbers), the big uniform draws
 * into shared memory on two threads when `threads` is 2.
 */
export async function loadFloat32(pairs: [Tensor, Float32Array][], threads: number): Promise<void> {
  const jobs: UniformJob[] = [];
  const here: [Tensor, Float32Array][] = [];
  for (const [t, out] of pairs) {
    const recipe = threads >= 2 ? pendingRecipe(t) : undefined;
    if (recipe?.draw.kind === 'uniform' && recipe.stream && out.length >= THREAD_MIN_VALUES && out.length === numel(t.shape) && out.buffer instanceof SharedArrayBuffer)
      jobs.push({ s: recipe.stream().state().s, low: recipe.draw.low, high: recipe.draw.high, buffer: out.buffer, byteOffset: out.byteOffset, length: out.length });
    else here.push([t, out]);
  }
  const worker = jobs.length >= 2 ? drawWorker() : null;
  if (!worker) {
    for (const [t, out] of pairs) writeFloat32(t, out);
    return;
  }
  jobs.sort((a, b) => b.length - a.length); // the biggest first: the two threads end close together
  const ctl = new SharedArrayBuffer(4 * (2 + jobs.length));
  const c = new Int32Array(ctl);
  const workerDone = worker.offer(ctl, jobs);
  for (const [t, out] of here) writeFloat32(t, out);
  for (let i; (i = Atomics.add(c, 0, 1)) < jobs.length; ) {
    drawJob(jobs[i]!);
    Atomics.store(c, 2 + i, 1);
    Atomics.add(c, 1, 1);
  }
  if (Atomics.load(c, 1) < jobs.length) await workerDone;
  // a worker that died mid-job left it unmarked: drawn again here
  for (let i = 0; i < jobs.length; i++) if (Atomics.load(c, 2 + i) === 0) drawJob(jobs[i]!);
}

function drawJob(j: UniformJob): void {
  drawInto({ kind: 'uniform', low: j.low, high: j.high }, new Float32Array(j.buffer, j.byteOffset, j.length), rngAt({ key: [0, 0, 0, 0], s: j.s, spare: 0, hasSpare: false }));
}
