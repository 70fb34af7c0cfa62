/**
 * The worker threads of a WebAssembly SIMD GEMM engine (cpu-gemm.ts): each runs the same module on
 * the same shared WebAssembly.Memory and takes one share of a gemm at a time through its slot of
 * the control block in page 0. Design and measurements: the header of cpu-gemm.ts.
 *
 * Traps met on the way (measured here):
 *  - Workers are unref()'d once ready so an idle pool never keeps the
 *    process alive; a worker parked in Atomics.wait is still terminated at
 *    exit. But a worker unref()'d while STARTING lets a script whose only
 *    pending work is `await cpuGemmReady()` exit early with code 13
 *    ("unsettled top-level await"): it stays ref'd until it reports ready.
 *  - Workers are created with `eval: true` from a plain-JS string, so no .ts
 *    entry file has to be resolved and transpiled inside the worker (tsx,
 *    vitest) and the pool works the same from source and from a build.
 *  - A worker is never presumed dead on a timeout (a big share can take
 *    seconds; re-running it while the worker still writes would
 *    double-accumulate). A wasm trap in a worker is caught there and flagged;
 *    the caller then re-runs that share itself so the trap surfaces as an
 *    exception on the caller's thread.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';

/** Threads worth running on this host (its cores), at most `cap`. */
export const hostThreads = (cap: number): number => Math.max(1, Math.min(cap, os.availableParallelism?.() ?? os.cpus().length));

/** page 0 of the shared memory (one 64 KiB wasm page): worker control slots */
export const CTRL_BYTES = 65536;
const SLOT_I32 = 32; // i32 words per worker slot
// slot layout (i32 index within slot): 0 seq, 1 done, 2 ready, 3 variant(0 n / 1 t), 4..17 run params (alpha as f32 bits), 18 failed
const ALPHA = 12; // index of alpha among the run params

const WORKER_SRC = `
const { workerData } = require('node:worker_threads');
const { module, memory, slot } = workerData;
const inst = new WebAssembly.Instance(module, { env: { mem: memory } });
const { run_n, run_t } = inst.exports;
const i32 = new Int32Array(memory.buffer, 0, ${CTRL_BYTES / 4});
const f32 = new Float32Array(memory.buffer, 0, ${CTRL_BYTES / 4});
const base = slot * ${SLOT_I32};
Atomics.store(i32, base + 2, 1);
Atomics.notify(i32, base + 2);
let last = Atomics.load(i32, base);
for (;;) {
  Atomics.wait(i32, base, last);
  const seq = Atomics.load(i32, base);
  if (seq === last) continue;
  if (seq < 0) break;
  last = seq;
  const p = base + 4;
  const fn = i32[base + 3] ? run_t : run_n;
  let failed = 0;
  try {
    fn(i32[p], i32[p + 1], i32[p + 2], i32[p + 3], i32[p + 4], i32[p + 5], i32[p + 6], i32[p + 7], i32[p + 8],
       i32[p + 9], i32[p + 10], i32[p + 11], f32[p + 12], i32[p + 13]);
  } catch (e) {
    failed = 1; // a wasm trap: the caller re-runs the share itself, so the error surfaces there
  }
  i32[base + 18] = failed;
  Atomics.store(i32, base + 1, seq);
  Atomics.notify(i32, base + 1);
}
`;

export interface WorkerHandle {
  worker: Worker;
  slot: number;
  seq: number;
  alive: boolean;
}

/** A pool of gemm workers over one module and shared memory; the caller's thread is not in it. */
export class GemmWorkerPool {
  private readonly i32: Int32Array;
  private readonly f32: Float32Array;
  private workers: WorkerHandle[] = [];
  private readyPromise: Promise<void> | null = null;

  constructor(
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
  ) {
    // views of page 0 of the first SharedArrayBuffer: growth never detaches it
    this.i32 = new Int32Array(memory.buffer, 0, CTRL_BYTES / 4);
    this.f32 = new Float32Array(this.i32.buffer, 0, CTRL_BYTES / 4);
  }

  /** Start n workers; resolves when every worker can take jobs (or has failed). */
  ready(n: number): Promise<void> {
    if (this.readyPromise) return this.readyPromise;
    const starts: Promise<void>[] = [];
    for (let s = 0; s < n; s++) {
      const base = s * SLOT_I32;
      this.i32.fill(0, base, base + SLOT_I32);
      let worker: Worker;
      try {
        worker = new Worker(WORKER_SRC, { eval: true, workerData: { module: this.module, memory: this.memory, slot: s } });
      } catch {
        continue;
      }
      // stays ref'd until ready (an unref'd starting worker lets a process
      // whose only pending work is `await ready()` exit with code 13)
      const h: WorkerHandle = { worker, slot: s, seq: 0, alive: false };
      this.workers.push(h);
      starts.push(
        new Promise<void>((resolve) => {
          worker.once('online', () => {
            // ready flag is set by the worker after instantiation
            const poll = () => {
              if (Atomics.load(this.i32, base + 2) === 1) {
                h.alive = true;
                worker.unref();
                resolve();
              } else setTimeout(poll, 1);
            };
            poll();
          });
          worker.once('error', () => {
            h.alive = false;
            worker.unref();
            resolve();
          });
          worker.once('exit', () => {
            h.alive = false;
            resolve();
          });
        }),
      );
    }
    this.readyPromise = Promise.all(starts).then(() => undefined);
    return this.readyPromise;
  }

  /** the workers that can take a job now */
  live(): WorkerHandle[] {
    return this.workers.filter((w) => w.alive);
  }

  /** Stop the workers; ready() may start new ones. */
  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    for (const h of ws) {
      Atomics.store(this.i32, h.slot * SLOT_I32, -1);
      Atomics.notify(this.i32, h.slot * SLOT_I32);
    }
    await Promise.all(ws.map((h) => h.worker.terminate().catch(() => 0)));
    this.readyPromise = null;
  }

  /** Hand worker h one run_n (variant 0) or run_t (1) call with these 14 arguments; returns at once. */
  post(h: WorkerHandle, variant: number, params: readonly number[]): void {
    const i32 = this.i32;
    const base = h.slot * SLOT_I32;
    const p = base + 4;
    i32[base + 3] = variant;
    for (let i = 0; i < params.length; i++) {
      if (i === ALPHA) this.f32[p + i] = params[i]!;
      else i32[p + i] = params[i]!;
    }
    h.seq = (h.seq + 1) & 0x3fffffff || 1;
    Atomics.store(i32, base, h.seq);
    Atomics.notify(i32, base);
  }

  /**
   * Wait until worker h has finished its job (polling `spin` times before sleeping). True when it
   * failed (a trap): h then takes no more work, and the caller must re-run the job itself.
   */
  join(h: WorkerHandle, spin: number): boolean {
    const i32 = this.i32;
    const base = h.slot * SLOT_I32;
    let spins = 0;
    // No timeout-based "the worker died" guess: a big share can legitimately
    // take seconds, and re-running it while the worker still writes would
    // double-accumulate. A worker reports failure (a trap) explicitly.
    while (Atomics.load(i32, base + 1) !== h.seq) {
      if (spins++ < spin) continue; // short spin: usually the worker is about done
      Atomics.wait(i32, base + 1, Atomics.load(i32, base + 1), 1000);
    }
    if (!i32[base + 18]) return false;
    h.alive = false; // don't hand it more work
    return true;
  }
}
