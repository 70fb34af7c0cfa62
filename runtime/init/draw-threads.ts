// Loading initial values on two threads (Node): the big uniform and normal draws (the whole model's
// ~10⁷ frozen weights) shared between this thread and one worker, each claiming the next tensor from a
// shared counter and drawing it straight into the backend's buffer, which must then be shared memory
// (the CPU backend's block on its threaded path). The worker runs the very functions this thread runs
// (their source, and the same WebAssembly module: uniform-wasm.ts), so the numbers are the same
// whoever draws them. Everything else (small tensors, constants, values that exist) is written here
// meanwhile.
//
// Drawing ahead (drawAhead): the backend's buffers exist only once the plan is prepared, but the values
// are known after lowering. The worker then draws the big ones into arrays of their own while this
// thread plans and prepares, and the load copies them in (on both threads): a copy costs a fraction
// of a draw, and the draws are off the compile's path.
import { Worker } from 'node:worker_threads';
import { numel, type Tensor } from '../tensor/tensor.ts';
import { drawInto, pendingRecipe, writeFloat32 } from './drawn.ts';
import { normalPairsInto, rngAt } from './rng.ts';
import { uniformWasm, uniformWasmInto, uniformWasmInto4, uniformWasmModule, uniformWasmOf } from './uniform-wasm.ts';

/** tensors smaller than this are drawn here: a worker's share is worth a message only above it */
export const THREAD_MIN_VALUES = 1 << 15;

/** Where a job writes: `length` float32s at byteOffset of buffer. */
interface Target {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}

/** a uniform draw in [a, b), or a normal one of mean a and deviation b, from state s (and a pending normal, NaN for none) */
interface DrawJob extends Target {
  kind: 'uniform' | 'normal';
  a: number;
  b: number;
  s: number[];
  spare: number;
}

/** values drawn ahead (`from`, job `fromJob` of the ahead batch whose control words are `fromCtl`) copied in, once that job is done */
interface CopyJob extends Target {
  kind: 'copy';
  from: SharedArrayBuffer;
  fromCtl: SharedArrayBuffer;
  fromJob: number;
}

/** four uniform draws at once (uniformWasmInto4: one stream in each SIMD lane) */
interface QuadJob {
  kind: 'uniform4';
  parts: DrawJob[];
}

type Job = DrawJob | QuadJob | CopyJob;

/** values a job writes (the biggest jobs go first: the two threads end close together) */
const jobValues = (j: Job) => (j.kind === 'uniform4' ? j.parts.reduce((n, p) => n + p.length, 0) : j.length);

/** The uniform draws four at a time (alike in length: the rest of each is drawn one stream at a time), the others as they are. */
function inQuads(jobs: DrawJob[]): (DrawJob | QuadJob)[] {
  const uniform = jobs.filter((j) => j.kind === 'uniform').sort((a, b) => b.length - a.length);
  const out: (DrawJob | QuadJob)[] = jobs.filter((j) => j.kind !== 'uniform');
  let k = 0;
  for (; k + 4 <= uniform.length; k += 4) out.push({ kind: 'uniform4', parts: uniform.slice(k, k + 4) });
  return [...out, ...uniform.slice(k)].sort((a, b) => jobValues(b) - jobValues(a));
}

// The worker: claims jobs from ctl[0], marks each done in ctl[2 + i] and counts it in ctl[1], answers
// with the run's id when no job is left. A copy whose values are not drawn yet is left unmarked (the
// caller does it once they are). (`__name`: what a keep-names transpiler may wrap functions in.)
const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
var __name = (f) => f;
const uniformWasmOf = (${uniformWasmOf.toString()});
const uniformWasmInto = (${uniformWasmInto.toString()});
const uniformWasmInto4 = (${uniformWasmInto4.toString()});
const normalPairsInto = (${normalPairsInto.toString()});
const wasm = uniformWasmOf(workerData.module);
const drew = new Int32Array(workerData.drew);
parentPort.on('message', ({ id, ctl, jobs }) => {
  const c = new Int32Array(ctl);
  for (let i; (i = Atomics.add(c, 0, 1)) < jobs.length; ) {
    const j = jobs[i];
    const target = (t) => new Float32Array(t.buffer, t.byteOffset, t.length);
    if (j.kind === 'uniform4') {
      const p = j.parts;
      uniformWasmInto4(wasm, p.map((q) => Uint32Array.from(q.s)), p.map(target), p.map((q) => q.a), p.map((q) => q.b));
      Atomics.add(drew, 0, 4);
    } else if (j.kind === 'copy') {
      if (Atomics.load(new Int32Array(j.fromCtl), 2 + j.fromJob) !== 1) continue;
      target(j).set(new Float32Array(j.from, 0, j.length));
    } else {
      const out = target(j);
      const s = Uint32Array.from(j.s);
      if (j.kind === 'uniform') uniformWasmInto(wasm, s, out, j.a, j.b);
      else normalPairsInto((u) => uniformWasmInto(wasm, s, u, 0, 1), out, j.a, j.b, j.spare);
      Atomics.add(drew, 0, 1);
    }
    Atomics.store(c, 2 + i, 1);
    Atomics.add(c, 1, 1);
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

  /** Keep the process alive until the worker answers every offer (an await on one offered with awaited false). */
  hold(): void {
    if (this.waiting.size) this.worker.ref();
  }

  /**
   * Offer the jobs; resolves once the worker has finished every job it claimed (or died). `awaited`
   * false: the process may exit meanwhile (until hold()).
   */
  offer(ctl: SharedArrayBuffer, jobs: Job[], awaited = true): Promise<void> {
    const id = this.nextId++;
    if (awaited) this.worker.ref(); // a process awaiting this must not exit under it
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

/** tensors offered to the worker to draw ahead, and those loads have taken from its draws, so far */
let offeredAhead = 0;
let tookAhead = 0;

/** The draw worker's state, for tests and measurements: started (resolves once it takes jobs, false if it cannot), tensors it drew, tensors offered to draw ahead and taken from those draws. */
export function drawWorkerStats(): { ready: Promise<boolean>; drew: number; offeredAhead: number; tookAhead: number } {
  const w = drawWorker();
  return { ready: w ? w.ready : Promise.resolve(false), drew: w?.drew ?? 0, offeredAhead, tookAhead };
}

/** Big draws started ahead (drawAhead): the worker alone draws each into a shared array of its own. */
interface AheadBatch {
  ctl: Int32Array;
  jobs: (DrawJob | QuadJob)[];
  /** resolves once the worker has finished every job it claimed (or died) */
  done: Promise<void>;
  tensors: Tensor[];
  worker: DrawWorker;
}

/** A tensor drawn ahead: into `buffer`, by job i of a batch. */
interface Ahead {
  batch: AheadBatch;
  i: number;
  buffer: SharedArrayBuffer;
}
const aheadOf = new WeakMap<Tensor, Ahead>();

/**
 * Start drawing the big uniform and normal tensors among `tensors` on the draw worker now, while this
 * thread goes on (planning, preparing); loadFloat32 later copies what it has drawn (the same numbers:
 * the worker runs this thread's code on the same stream) and draws what it has not reached. No-op on
 * one thread.
 */
export function drawAhead(tensors: Tensor[], threads: number): void {
  if (threads < 2 || typeof SharedArrayBuffer !== 'function') return;
  const draws: DrawJob[] = [];
  const owner = new Map<DrawJob, Tensor>();
  for (const t of tensors) {
    const job = aheadOf.has(t) ? null : bigDrawJob(t, { buffer: null, byteOffset: 0, length: numel(t.shape) });
    if (!job) continue;
    job.buffer = new SharedArrayBuffer(4 * job.length); // its pages are made when the worker first writes them
    draws.push(job);
    owner.set(job, t);
  }
  const worker = draws.length ? drawWorker() : null;
  if (!worker) return;
  // the biggest first: what is left when the load comes is small
  const jobs = inQuads(draws);
  const batch: AheadBatch = { ctl: new Int32Array(new SharedArrayBuffer(4 * (2 + jobs.length))), jobs, done: Promise.resolve(), tensors: [...owner.values()], worker };
  jobs.forEach((j, i) => {
    for (const part of j.kind === 'uniform4' ? j.parts : [j]) aheadOf.set(owner.get(part)!, { batch, i, buffer: part.buffer });
  });
  offeredAhead += draws.length;
  batch.done = worker.offer(batch.ctl.buffer as SharedArrayBuffer, jobs, false);
}

/** A job drawing tensor t into `to`, where t is a big random draw not drawn yet of to.length values; else null. */
function bigDrawJob(t: Tensor, to: Omit<Target, 'buffer'> & { buffer: SharedArrayBuffer | null }): DrawJob | null {
  const recipe = pendingRecipe(t);
  const d = recipe?.draw;
  if (!d || d.kind === 'constant' || !recipe.stream || to.length < THREAD_MIN_VALUES || to.length !== numel(t.shape)) return null;
  const st = recipe.stream().state();
  const [a, b] = d.kind === 'uniform' ? [d.low, d.high] : [d.mean, d.std];
  return { kind: d.kind, a, b, s: st.s, spare: st.hasSpare ? st.spare : NaN, ...(to as Target) };
}

/**
 * Write each tensor's values into its float32 array (writeFloat32's numbers), the big uniform and
 * normal draws into shared memory on two threads when `threads` is 2. `shareDraws` false leaves every
 * big draw to the worker (for tests: what it draws is then known). A tensor the worker has drawn ahead
 * (drawAhead) is copied in; one it has not reached is drawn as any other.
 */
export async function loadFloat32(pairs: [Tensor, Float32Array][], threads: number, shareDraws = true): Promise<void> {
  const ahead = takeAhead(pairs);
  const copies: CopyJob[] = [];
  const draws: DrawJob[] = [];
  /** each job's tensor, and where it was drawn ahead (a copy whose values never came is drawn from the tensor) */
  const owner = new Map<CopyJob | DrawJob, [Tensor, Ahead | undefined]>();
  const here: [Tensor, Float32Array][] = [];
  for (const [t, out] of pairs) {
    const shared = out.buffer instanceof SharedArrayBuffer ? { buffer: out.buffer, byteOffset: out.byteOffset, length: out.length } : null;
    const a = ahead.get(t);
    let job: CopyJob | DrawJob | null = null;
    if (a && shared) copies.push((job = { kind: 'copy', from: a.buffer, fromCtl: a.batch.ctl.buffer as SharedArrayBuffer, fromJob: a.i, ...shared }));
    else if (!a && threads >= 2 && shared && (job = bigDrawJob(t, shared))) draws.push(job);
    if (job) owner.set(job, [t, a]);
    else here.push([t, out]);
  }
  const worker = copies.length + draws.length >= 2 ? drawWorker() : null;
  const jobs: Job[] = [...copies, ...(worker ? inQuads(draws) : draws)].sort((a, b) => jobValues(b) - jobValues(a));
  /** a job on this thread, whatever the worker did: a copy once its values are drawn (drawn here if they never come) */
  const finishHere = async (j: Job) => {
    if (j.kind !== 'copy') return drawHere(j);
    const [t, a] = owner.get(j)!;
    await writeHere(t, target(j), a);
  };
  if (!worker) {
    for (const [t, out] of here) await writeHere(t, out, ahead.get(t));
    for (const j of jobs) await finishHere(j);
    return;
  }
  const ctl = new SharedArrayBuffer(4 * (2 + jobs.length));
  const c = new Int32Array(ctl);
  const workerDone = worker.offer(ctl, jobs);
  for (const [t, out] of here) await writeHere(t, out, ahead.get(t));
  for (let i; shareDraws && (i = Atomics.add(c, 0, 1)) < jobs.length; ) {
    const j = jobs[i]!;
    if (j.kind === 'copy' && Atomics.load(new Int32Array(j.fromCtl), 2 + j.fromJob) !== 1) continue; // not drawn yet: left unmarked, done below
    if (j.kind === 'copy') target(j).set(new Float32Array(j.from, 0, j.length));
    else drawHere(j);
    Atomics.store(c, 2 + i, 1);
    Atomics.add(c, 1, 1);
  }
  if (!shareDraws || Atomics.load(c, 1) < jobs.length) await workerDone;
  // a job left unmarked (a copy whose values were not drawn yet, or one a worker died in) is done here
  for (let i = 0; i < jobs.length; i++) if (Atomics.load(c, 2 + i) === 0) await finishHere(jobs[i]!);
}

const target = (j: Target) => new Float32Array(j.buffer, j.byteOffset, j.length);

/** A tensor's values into `out` on this thread: copied from its draw ahead once that is done (drawn here if the worker died first), else written. */
async function writeHere(t: Tensor, out: Float32Array, a: Ahead | undefined): Promise<void> {
  if (a && Atomics.load(a.batch.ctl, 2 + a.i) !== 1) {
    a.batch.worker.hold();
    await a.batch.done;
  }
  if (a && Atomics.load(a.batch.ctl, 2 + a.i) === 1) out.set(new Float32Array(a.buffer, 0, out.length));
  else writeFloat32(t, out);
}

/**
 * The tensors among `pairs` the worker has drawn ahead, or is drawing now. Each batch met is closed
 * first (its jobs the worker has not reached are left to the caller, drawn as any other) and forgotten
 * (its arrays go once copied).
 */
function takeAhead(pairs: [Tensor, Float32Array][]): Map<Tensor, Ahead> {
  const taken = new Map<Tensor, Ahead>();
  const closed = new Map<AheadBatch, number>();
  for (const [t, out] of pairs) {
    const a = aheadOf.get(t);
    if (!a) continue;
    let claimed = closed.get(a.batch);
    if (claimed === undefined) {
      // every job not claimed yet is now the caller's: the worker's next claim finds none left
      claimed = Math.min(Atomics.add(a.batch.ctl, 0, a.batch.jobs.length), a.batch.jobs.length);
      closed.set(a.batch, claimed);
    }
    if (a.i < claimed && 4 * out.length === a.buffer.byteLength) taken.set(t, a);
  }
  for (const batch of closed.keys()) for (const u of batch.tensors) aheadOf.delete(u);
  tookAhead += taken.size;
  return taken;
}

/** A draw (or four) on this thread: the numbers the worker's would be. */
function drawHere(j: DrawJob | QuadJob): void {
  const wasm = j.kind === 'uniform4' ? uniformWasm() : null;
  if (j.kind !== 'uniform4') drawJob(j);
  else if (!wasm) j.parts.forEach(drawJob);
  else uniformWasmInto4(wasm, j.parts.map((p) => Uint32Array.from(p.s)), j.parts.map(target), j.parts.map((p) => p.a), j.parts.map((p) => p.b));
}

function drawJob(j: DrawJob): void {
  const draw = j.kind === 'uniform' ? { kind: j.kind, low: j.a, high: j.b } : { kind: j.kind, mean: j.a, std: j.b };
  const hasSpare = !Number.isNaN(j.spare);
  drawInto(draw, target(j), rngAt({ key: [0, 0, 0, 0], s: j.s, spare: hasSpare ? j.spare : 0, hasSpare }));
}
