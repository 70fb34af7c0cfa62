// The second core for the CPU executable's WebAssembly loops kernels (Node-only: node:worker_threads).
// One worker instantiates the executable's loops module on the same shared WebAssembly.Memory; a
// kernel big enough to pay for the handoff is cut into chunks of output rows that the calling thread
// and the worker claim in turn. Every element is computed by the same function on the same inputs
// either way, so a split run equals a single-thread run bit for bit (chunks are multiples of 4 rows
// so that the vector loop of a one-loop kernel covers the same elements as in the whole run).
//
// Handoff: a small control area of i32 words inside the executable's block (no postMessage per
// kernel): the caller writes the job, bumps SEQ and notifies; both threads then claim chunks of rows
// until none is left, and the caller waits only for a chunk the worker is still running (on a
// loaded machine the worker may wake late or not at all: the caller then takes every chunk). The
// worker polls a while before Atomics.wait (a sleep and wake-up costs tens of µs, or far more on a
// loaded machine). The worker is unref()'d once ready (it never keeps the
// process alive), is terminated by close(), and a worker that failed to start or trapped leaves the
// caller running every kernel whole (a trap is re-run on the caller's thread, so it surfaces there).
// A worker's thread takes tens of ms to boot: startLoopsWorker() starts one before its module exists
// (the executable does while it generates its kernels), and LoopsThreads hands it the module in a
// message, so that the boot overlaps the work on the calling thread instead of following it.
import { Worker } from 'node:worker_threads';

/** i32 words of the control area */
export const CTRL_WORDS = 32;
// word indices: the job (written by the caller while no worker is inside it), then the claim word and
// the busy count on their own 64-byte line
const SEQ = 0, FN = 1, N = 2, CHUNK = 3, TAB = 4, ARGP = 5;
const NEXT = 16, BUSY = 17, FAILED = 18, FAILED_CHUNK = 19, READY = 20, WORKER_CHUNKS = 21;
/** chunks a split kernel is cut into (threads claim them one at a time) */
const CHUNKS = 16;

// The claim word NEXT = tag << 16 | next chunk << 8 | chunks: a thread takes chunk i by a
// compare-exchange from i to i + 1, and the job is over when i reaches the count — all read from the
// one word, so a worker that wakes late sees either an exhausted job or the current one whole. The
// job's other words are written before NEXT is stored, and only after the previous job was exhausted
// with BUSY at 0 (a worker increments BUSY before it reads NEXT): they never change under a worker.
const WORKER_SRC = `
const { parentPort } = require('node:worker_threads');
parentPort.once('message', ({ module, memory, names, ctrl, spin }) => {
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
  Atomics.add(c, ${BUSY}, 1);
  for (;;) {
    const cur = Atomics.load(c, ${NEXT});
    const i = (cur >> 8) & 255;
    if (i >= (cur & 255)) break;
    if (Atomics.compareExchange(c, ${NEXT}, cur, cur + 256) !== cur) continue;
    const lo = i * c[${CHUNK}];
    try {
      fns[c[${FN}]](lo, Math.min(c[${N}], lo + c[${CHUNK}]), c[${TAB}], c[${ARGP}]);
      c[${WORKER_CHUNKS}]++;
    } catch {
      c[${FAILED_CHUNK}] = i;
      Atomics.store(c, ${FAILED}, 1);
      break;
    }
  }
  Atomics.sub(c, ${BUSY}, 1);
  Atomics.notify(c, ${BUSY});
}
});
`;

/** the thread of a LoopsThreads (node:worker_threads) */
export type LoopsWorker = Worker;

/**
 * A worker thread for a LoopsThreads, started ahead of its module (it waits for it in a message);
 * null when no worker can start here. Whoever starts one hands it to LoopsThreads or terminates it.
 */
export function startLoopsWorker(): LoopsWorker | null {
  try {
    // execArgv: []: the parent's flags (--input-type=module, --import tsx) would make the eval'd
    // source a module without require(), or load a TypeScript hook the worker does not need
    return new Worker(WORKER_SRC, { eval: true, execArgv: [] });
  } catch {
    return null;
  }
}

/** a loops export: rows [lo, hi) of its outermost loop, buffer table at tab, scalars at argp (bytes) */
export type LoopsFn = (lo: number, hi: number, tab: number, argp: number) => void;

export interface LoopsThreadsOptions {
  /** polls of the job word before the worker sleeps in Atomics.wait (after each job) */
  workerSpin?: number;
  /** polls of the done word before the caller sleeps */
  callerSpin?: number;
  /** a worker from startLoopsWorker() (default: one started here); null: none could start */
  worker?: LoopsWorker | null;
}

/** The worker of one executable's loops module; run() splits a kernel over it and the caller. */
export class LoopsThreads {
  private readonly c: Int32Array;
  private worker: Worker | null = null;
  private seq = 0;
  private tag = 0;
  private live = false;
  /** failed, trapped or closed: never live again */
  private dead = false;
  private readonly callerSpin: number;
  /** chunk size and count by row count, worked out once: a division in run() (once a step, in V8's interpreter) boxes a double */
  private readonly chunking = new Map<number, { chunk: number; count: number }>();
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
    const worker = o.worker === undefined ? startLoopsWorker() : o.worker;
    if (!worker) {
      this.ready = Promise.resolve(false);
      this.exited = Promise.resolve();
      return;
    }
    this.worker = worker;
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    try {
      // a memory that is not shared cannot be posted (DataCloneError): no worker then
      worker.postMessage({ module, memory, names, ctrl: ctrlByte, spin: o.workerSpin ?? 0 });
    } catch {
      this.worker = null;
      void worker.terminate().catch(() => 0);
      this.ready = Promise.resolve(false);
      return;
    }
    // ref'd while starting (an unref'd starting worker lets a process whose only pending work is
    // `await ready` exit with code 13), unref'd once it answers
    this.ready = new Promise<boolean>((resolve) => {
      let settled = false;
      const settle = (ok: boolean) => {
        if (settled) return;
        settled = true;
        this.live = ok && this.worker !== null;
        if (!this.live) this.dead = true;
        worker.unref();
        resolve(this.live);
      };
      const poll = () => {
        if (settled) return;
        if (!this.worker) settle(false);
        else if (Atomics.load(this.c, READY) === 1) settle(true);
        else setTimeout(poll, 1);
      };
      poll();
      worker.once('error', () => settle(false));
      worker.once('exit', () => {
        this.live = false;
        this.dead = true;
        settle(false);
      });
    });
  }

  /**
   * Whether the worker takes jobs: it says so in the control area, read here (not only by `ready`'s
   * poll), so that a caller running step after step without yielding to the event loop gets the
   * worker as soon as it is up. Never again once it failed, trapped or was closed.
   */
  private get running(): boolean {
    if (!this.live && !this.dead && this.worker && Atomics.load(this.c, READY) === 1) this.live = true;
    return this.live;
  }

  /** chunks the worker has run so far */
  get workerChunks(): number {
    return Atomics.load(this.c, WORKER_CHUNKS);
  }

  /** whether run() splits now */
  get threads(): number {
    return this.running ? 2 : 1;
  }

  /**
   * The chunking of n rows, worked out once: the executable asks for every split kernel's rows when
   * it is made, so that run() allocates nothing also when the worker comes up between warm steps.
   */
  rows(n: number): { chunk: number; count: number } {
    let job = this.chunking.get(n);
    if (!job) {
      const chunk = 4 * Math.ceil(n / (4 * CHUNKS));
      this.chunking.set(n, (job = { chunk, count: Math.ceil(n / chunk) }));
    }
    return job;
  }

  /**
   * Rows [0, n) of export `fnIdx` (fn: the same export on this thread), cut into chunks of a multiple
   * of 4 rows that this thread and the worker claim one at a time: a worker that is slow to wake (or
   * not scheduled at all) leaves this thread taking every chunk, and this thread waits only for a
   * chunk the worker is running. Whole here when the worker is not running.
   */
  run(fnIdx: number, fn: LoopsFn, n: number, tab: number, argp: number): void {
    if (!this.running || n < 8) {
      fn(0, n, tab, argp);
      return;
    }
    this.splits++;
    const c = this.c;
    const { chunk, count } = this.rows(n);
    c[FN] = fnIdx;
    c[N] = n;
    c[CHUNK] = chunk;
    c[TAB] = tab;
    c[ARGP] = argp;
    this.tag = (this.tag + 1) & 0x7fff;
    Atomics.store(c, NEXT, (this.tag << 16) | count);
    this.seq = (this.seq + 1) & 0x3fffffff || 1;
    Atomics.store(c, SEQ, this.seq);
    Atomics.notify(c, SEQ);
    try {
      for (;;) {
        const cur = Atomics.load(c, NEXT);
        const i = (cur >> 8) & 255;
        if (i >= count) break;
        if (Atomics.compareExchange(c, NEXT, cur, cur + 256) !== cur) continue;
        fn(i * chunk, Math.min(n, (i + 1) * chunk), tab, argp);
      }
    } finally {
      // never return (or throw) while the worker may still write this kernel's output; a trap here
      // leaves chunks unclaimed: close the job so the worker takes no more of them
      Atomics.store(c, NEXT, (this.tag << 16) | (count << 8) | count);
      let spins = 0;
      while (Atomics.load(c, BUSY) !== 0) {
        if (spins++ < this.callerSpin) continue;
        Atomics.wait(c, BUSY, Atomics.load(c, BUSY), 1000);
      }
    }
    if (Atomics.load(c, FAILED)) {
      this.live = false; // a trap there: this thread takes every kernel from now on, and re-runs that chunk
      this.dead = true;
      const i = c[FAILED_CHUNK]!;
      fn(i * chunk, Math.min(n, (i + 1) * chunk), tab, argp);
    }
  }

  /** Stop the worker (idempotent); run() then runs every kernel here. */
  close(): void {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    this.live = false;
    this.dead = true;
    Atomics.store(this.c, SEQ, -1);
    Atomics.notify(this.c, SEQ);
    void w.terminate().catch(() => 0);
  }
}
