// The second core for the CPU executable's WebAssembly loops kernels (Node-only: node:worker_threads).
// One worker instantiates the executable's loops module on the same shared WebAssembly.Memory; a
// kernel big enough to pay for the handoff runs output rows [0, mid) on the calling thread and
// [mid, n) on the worker. Every element is computed by the same function on the same inputs either
// way, so a split run equals a single-thread run bit for bit (mid is a multiple of 4 so that the
// vector loop of a one-loop kernel covers the same elements as in the whole run).
//
// Handoff: a small control area of i32 words inside the executable's block (no postMessage per
// kernel): the caller writes the job, bumps SEQ and notifies; the worker runs it, stores DONE = SEQ
// and notifies. Both spin a little before Atomics.wait (a futex sleep and wake-up costs tens of µs,
// many kernels take less than a millisecond). The worker is unref()'d once ready (it never keeps the
// process alive), is terminated by close(), and a worker that failed to start or trapped leaves the
// caller running every kernel whole (a trap is re-run on the caller's thread, so it surfaces there).
import { Worker } from 'node:worker_threads';

/** i32 words of the control area */
export const CTRL_WORDS = 32;
// word indices (SEQ and DONE on separate 64-byte lines: the two threads write them)
const SEQ = 0, FN = 1, LO = 2, HI = 3, TAB = 4, ARGP = 5;
const DONE = 16, FAILED = 17, READY = 18;

const WORKER_SRC = `
const { workerData } = require('node:worker_threads');
const { module, memory, names, ctrl, spin } = workerData;
const ex = new WebAssembly.Instance(module, { env: { mem: memory } }).exports;
const fns = names.map((n) => ex[n]);
const c = new Int32Array(memory.buffer, ctrl, ${CTRL_WORDS});
Atomics.store(c, ${READY}, 1);
Atomics.notify(c, ${READY});
let last = Atomics.load(c, ${SEQ});
for (;;) {
  let seq, spins = 0;
  while ((seq = Atomics.load(c, ${SEQ})) === last) {
    if (spins++ >= spin) {
      Atomics.wait(c, ${SEQ}, last);
      spins = 0;
    }
  }
  if (seq < 0) break;
  last = seq;
  let failed = 0;
  try {
    fns[c[${FN}]](c[${LO}], c[${HI}], c[${TAB}], c[${ARGP}]);
  } catch {
    failed = 1;
  }
  c[${FAILED}] = failed;
  Atomics.store(c, ${DONE}, seq);
  Atomics.notify(c, ${DONE});
}
`;

/** a loops export: rows [lo, hi) of its outermost loop, buffer table at tab, scalars at argp (bytes) */
export type LoopsFn = (lo: number, hi: number, tab: number, argp: number) => void;

export interface LoopsThreadsOptions {
  /** polls of the job word before the worker sleeps in Atomics.wait (after each job) */
  workerSpin?: number;
  /** polls of the done word before the caller sleeps */
  callerSpin?: number;
}

/** The worker of one executable's loops module; run() splits a kernel over it and the caller. */
export class LoopsThreads {
  private readonly c: Int32Array;
  private worker: Worker | null = null;
  private seq = 0;
  private live = false;
  private readonly callerSpin: number;
  /** resolves once the worker takes jobs (true) or could not start (false) */
  readonly ready: Promise<boolean>;
  /** resolves when the worker thread has ended (at once when none started) */
  readonly exited: Promise<void>;
  /** kernels run on both threads so far */
  splits = 0;

  /**
   * module: the loops module (imports env.mem); memory: the shared memory it runs on; names: its
   * exports, by the index run() is given; ctrlByte: byte offset of CTRL_WORDS i32 inside memory.
   */
  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, names: readonly string[], ctrlByte: number, o: LoopsThreadsOptions = {}) {
    this.c = new Int32Array(memory.buffer, ctrlByte, CTRL_WORDS);
    this.c.fill(0);
    this.callerSpin = o.callerSpin ?? 20000;
    let worker: Worker;
    try {
      // execArgv: []: the parent's flags (--input-type=module, --import tsx) would make the eval'd
      // source a module without require(), or load a TypeScript hook the worker does not need
      worker = new Worker(WORKER_SRC, { eval: true, execArgv: [], workerData: { module, memory, names, ctrl: ctrlByte, spin: o.workerSpin ?? 20000 } });
    } catch {
      this.ready = Promise.resolve(false);
      this.exited = Promise.resolve();
      return;
    }
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    // ref'd while starting (an unref'd starting worker lets a process whose only pending work is
    // `await ready` exit with code 13), unref'd once it answers
    this.ready = new Promise<boolean>((resolve) => {
      let settled = false;
      const settle = (ok: boolean) => {
        if (settled) return;
        settled = true;
        this.live = ok && this.worker !== null;
        worker.unref();
        resolve(this.live);
      };
      worker.once('online', () => {
        const poll = () => {
          if (settled) return;
          if (!this.worker) settle(false);
          else if (Atomics.load(this.c, READY) === 1) settle(true);
          else setTimeout(poll, 1);
        };
        poll();
      });
      worker.once('error', () => settle(false));
      worker.once('exit', () => {
        this.live = false;
        settle(false);
      });
    });
  }

  /** whether run() splits now */
  get threads(): number {
    return this.live ? 2 : 1;
  }

  /**
   * Rows [0, n) of export `fnIdx` (fn: the same export on this thread): [mid, n) on the worker,
   * [0, mid) here, mid a multiple of 4; whole here when the worker is not running.
   */
  run(fnIdx: number, fn: LoopsFn, n: number, tab: number, argp: number): void {
    const mid = (n >> 3) << 2;
    if (!this.live || mid === 0) {
      fn(0, n, tab, argp);
      return;
    }
    this.splits++;
    const c = this.c;
    c[FN] = fnIdx;
    c[LO] = mid;
    c[HI] = n;
    c[TAB] = tab;
    c[ARGP] = argp;
    const seq = (this.seq = (this.seq + 1) & 0x3fffffff || 1);
    Atomics.store(c, SEQ, seq);
    Atomics.notify(c, SEQ);
    try {
      fn(0, mid, tab, argp);
    } finally {
      // never return (or throw) while the worker may still write this kernel's output
      let spins = 0;
      while (Atomics.load(c, DONE) !== seq) {
        if (spins++ < this.callerSpin) continue;
        Atomics.wait(c, DONE, Atomics.load(c, DONE), 1000);
      }
    }
    if (c[FAILED]) {
      this.live = false; // a trap there: this thread takes every kernel from now on, and re-runs this half
      fn(mid, n, tab, argp);
    }
  }

  /** Stop the worker (idempotent); run() then runs every kernel here. */
  close(): void {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    this.live = false;
    Atomics.store(this.c, SEQ, -1);
    Atomics.notify(this.c, SEQ);
    void w.terminate().catch(() => 0);
  }
}
