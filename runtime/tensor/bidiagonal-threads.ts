// The second core for the bidiagonalisation's row pass (Node-only: node:worker_threads), installed
// by the CPU backend through bidiagonal.ts's setRowPassHelper. bidiagonal.ts cuts a big step's pass
// into two halves of rows, each adding its terms of the next step's product into its own vector (the
// cut depends only on the sizes, so the bits are the same with or without this thread); here one
// worker, running the same WebAssembly module on the same shared memory, takes the second half while
// the calling thread runs the first.
//
// Handoff, without a message per step: a small shared control block of i32 words, each on its own
// 64-byte line. The caller writes the step's arguments, then bumps JOB. The second half is claimed by
// a compare-exchange of CLAIM from job − 1 to job, by the worker when it sees the job, or by the
// caller once its own half is done and the worker has not (a worker that wakes late, or not at all,
// costs nothing but the second core). A worker that took a half stores its Σ a² and DONE = job; the
// caller spins until then. The worker polls JOB a while after each half (the next step comes within
// microseconds) before it sleeps in Atomics.wait (SLEEPING tells the caller to notify).
//
// A session (one bidiagonalisation) starts with a message carrying the memory (the worker leaves its
// loop for the event loop between sessions). A wait for the worker much longer than a half takes (its
// core taken by another thread) pauses the handoff for some steps, twice as many each time; a wait
// past `lostMs` (a dead or stuck worker) gives the worker up: it is terminated, and bidiagonal.ts
// starts that bidiagonalisation again on the calling thread alone (the same bits). The worker is
// unref()'d: it never keeps the process alive.
import { Worker } from 'node:worker_threads';
import { setRowPassHelper, type RowPassHelper, type RowPassSession, RowPassLost, type RowPassVectors } from './bidiagonal.ts';

// i32 words of the control block (16 words = one 64-byte line apart where both threads write)
const JOB = 0, CLAIM = 16, DONE = 32, SLEEPING = 48, CALLER_SLEEPING = 64, SESSION = 80, READY = 81, HALVES = 82, DIE_AT = 83;
const WORDS = 96;
// f64 slots after the words: the job's arguments, the worker's Σ a²
const K = 0, LO = 1, HI = 2, TAU = 3, TAU_R = 4, SCALE = 5, END = 6, RESULT = 7;
const ARGS = 8;
/**
 * how long (ms) the worker polls JOB before it sleeps: longer than a step takes, so that it stays
 * awake through a bidiagonalisation (a sleeping worker wakes too late for the next half, which the
 * caller then runs itself, twice as long a step, which the worker sleeps through in turn…)
 */
const SPIN_MS = 1;
/** polls of DONE before the caller sleeps until the worker's half is done (a busy machine: its core may be the one the worker needs) */
const CALLER_SPIN = 1 << 12;
/** a wait for the worker's half longer than this (ms) pauses the handoff for PAUSE_STEPS steps, then twice that… */
const SLOW_MS = 1;
const PAUSE_STEPS = 16;
/** halves in a row taken here because the worker came late, before a pause */
const MISSES = 4;

const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
const c = new Int32Array(workerData.ctl, 0, ${WORDS});
const f = new Float64Array(workerData.ctl, ${4 * WORDS}, ${ARGS});
parentPort.on('message', ({ module, memory, session, job, at }) => {
  const pass = new WebAssembly.Instance(module, { env: { mem: memory } }).exports.pass;
  Atomics.store(c, ${READY}, session);
  let last = job;
  for (;;) {
    let j, spins = 0, since = 0;
    while ((j = Atomics.load(c, ${JOB})) === last) {
      if ((++spins & 1023) !== 0) continue;
      const now = performance.now();
      if (since === 0) since = now;
      else if (now - since > ${SPIN_MS}) {
        Atomics.store(c, ${SLEEPING}, 1);
        Atomics.wait(c, ${JOB}, last);
        Atomics.store(c, ${SLEEPING}, 0);
        since = 0;
      }
    }
    last = j;
    if (Atomics.load(c, ${SESSION}) !== session || f[${END}] !== 0) break;
    if (Atomics.compareExchange(c, ${CLAIM}, j - 1, j) !== j - 1) continue;
    const halves = Atomics.add(c, ${HALVES}, 1) + 1;
    // for tests: a worker told to die exits halfway through a half, leaving its rows half done
    if (halves === c[${DIE_AT}]) {
      pass(at.a, at.w, at.u, at.wn, at.n, f[${K}], f[${LO}], (f[${LO}] + f[${HI}]) >> 1, f[${TAU}], f[${TAU_R}], f[${SCALE}]);
      process.exit(1);
    }
    f[${RESULT}] = pass(at.a, at.w, at.u, at.wn, at.n, f[${K}], f[${LO}], f[${HI}], f[${TAU}], f[${TAU_R}], f[${SCALE}]);
    Atomics.store(c, ${DONE}, j);
    if (Atomics.load(c, ${CALLER_SLEEPING})) Atomics.notify(c, ${DONE});
  }
});
`;

export interface RowPassThreadsOptions {
  /** a wait for the worker's half past this (ms) gives the worker up (default 5000) */
  lostMs?: number;
  /** for tests: the worker exits halfway through its n-th half (counted over its life) */
  dieAtHalf?: number;
}

/** What the worker did, over every session (measurements; bench/svd.ts prints them). */
export interface RowPassStats {
  /** halves offered to the worker */
  offered: number;
  /** offered halves this thread ran because the worker came too late for them */
  late: number;
  /** waits for the worker's half longer than SLOW_MS (each pauses the handoff) */
  slow: number;
  /** ms this thread spent waiting for the worker's halves */
  waitedMs: number;
}

class RowPassThreads implements RowPassHelper {
  readonly stats: RowPassStats = { offered: 0, late: 0, slow: 0, waitedMs: 0 };
  private worker: Worker | null = null;
  private readonly ctl = new SharedArrayBuffer(4 * WORDS + 8 * ARGS);
  private readonly c = new Int32Array(this.ctl, 0, WORDS);
  private readonly f = new Float64Array(this.ctl, 4 * WORDS, ARGS);
  private session = 0;
  /** workers that failed to start, died or were given up: past a few, no more are started */
  private losses = 0;

  constructor(private readonly o: RowPassThreadsOptions) {}

  /** halves the workers have run (tests and measurements) */
  get workerHalves(): number {
    return Atomics.load(this.c, HALVES);
  }
  /** workers that failed to start, died or were given up */
  get workersLost(): number {
    return this.losses;
  }

  /** Start the worker now (it boots in tens of ms), so that it is ready when the first SVD comes. */
  start(): Worker | null {
    if (this.worker || this.losses >= 3) return this.worker;
    try {
      // execArgv: []: the parent's flags (--import tsx) would load a TypeScript hook the worker does not need
      const w = new Worker(WORKER_SRC, { eval: true, execArgv: [], workerData: { ctl: this.ctl } });
      // idle, it never keeps the process alive; 'error' and 'exit' are listened to first (a listener
      // added after unref() would ref the worker again)
      const lost = () => {
        if (this.worker === w) this.lose();
      };
      w.on('error', lost);
      w.on('exit', lost);
      w.unref();
      Atomics.store(this.c, DIE_AT, this.o.dieAtHalf ?? 0);
      this.worker = w;
    } catch {
      this.losses++;
    }
    return this.worker;
  }

  private lose(): void {
    this.losses++;
    void this.worker?.terminate();
    this.worker = null;
  }

  attach(kernel: { module: WebAssembly.Module; memory: WebAssembly.Memory }, at: RowPassVectors): RowPassSession | null {
    if (!(kernel.memory.buffer instanceof SharedArrayBuffer)) return null;
    const worker = this.start();
    if (!worker) return null;
    const session = (this.session = (this.session + 1) & 0x3fffffff);
    Atomics.store(this.c, SESSION, session);
    this.f[END] = 0;
    worker.postMessage({ module: kernel.module, memory: kernel.memory, session, job: Atomics.load(this.c, JOB), at });
    return new Session(this.stats, this, this.c, this.f, session, this.o.lostMs ?? 5000);
  }

  /** the session's worker kept it waiting past lostMs */
  giveUp(): void {
    this.lose();
  }
}

class Session implements RowPassSession {
  /** steps to run here alone (after the worker kept us waiting, or missed its halves), and the next such pause */
  private pause = 0;
  private nextPause = PAUSE_STEPS;
  /** halves in a row the worker came too late for */
  private misses = 0;

  private backOff(): void {
    this.pause = this.nextPause;
    this.nextPause *= 2;
    this.misses = 0;
  }

  constructor(
    private readonly stats: RowPassStats,
    private readonly threads: RowPassThreads,
    private readonly c: Int32Array,
    private readonly f: Float64Array,
    private readonly session: number,
    private readonly lostMs: number,
  ) {}

  offer(k: number, lo: number, hi: number, tau: number, tauR: number, scale: number): number {
    const { c, f } = this;
    if (this.pause > 0) return this.pause--, 0;
    if (Atomics.load(c, READY) !== this.session) return 0;
    this.stats.offered++;
    f[K] = k;
    f[LO] = lo;
    f[HI] = hi;
    f[TAU] = tau;
    f[TAU_R] = tauR;
    f[SCALE] = scale;
    const job = Atomics.add(c, JOB, 1) + 1;
    if (Atomics.load(c, SLEEPING)) Atomics.notify(c, JOB);
    return job;
  }

  take(job: number): boolean {
    if (job === 0) return true;
    if (Atomics.compareExchange(this.c, CLAIM, job - 1, job) !== job - 1) return (this.misses = 0), false;
    this.stats.late++;
    // the worker was late: on a busy machine it shares a core with this thread (its polling then
    // slows this one down), so after a few misses in a row it is left alone for a while
    if (++this.misses >= MISSES) this.backOff();
    return true;
  }

  result(job: number): number {
    const { c } = this;
    if (Atomics.load(c, DONE) !== job) {
      const t0 = performance.now();
      for (let polls = 1; Atomics.load(c, DONE) !== job; polls++) {
        if (polls < CALLER_SPIN) continue;
        Atomics.store(c, CALLER_SLEEPING, 1);
        const done = Atomics.load(c, DONE);
        if (done !== job) Atomics.wait(c, DONE, done, 1);
        Atomics.store(c, CALLER_SLEEPING, 0);
        if (performance.now() - t0 > this.lostMs) {
          this.threads.giveUp();
          throw new RowPassLost();
        }
      }
      const waited = performance.now() - t0;
      this.stats.waitedMs += waited;
      if (waited > SLOW_MS) this.stats.slow++, this.backOff();
    }
    return this.f[RESULT];
  }

  close(): void {
    // a job that tells the worker the session is over (it goes back to its event loop); CLAIM moves
    // with JOB so that the next session's first job is claimable
    this.f[END] = 1;
    const job = Atomics.load(this.c, JOB) + 1;
    Atomics.store(this.c, CLAIM, job);
    Atomics.store(this.c, JOB, job);
    Atomics.notify(this.c, JOB);
  }
}

let installed: RowPassThreads | undefined;

/**
 * Give the bidiagonalisation a second thread for its big steps (idempotent; the worker starts here,
 * so that it has booted by the first SVD). Returns how many halves the worker has run so far.
 */
export function installRowPassThreads(o: RowPassThreadsOptions = {}): { workerHalves(): number; stats: RowPassStats } {
  const helper = (installed ??= new RowPassThreads(o));
  setRowPassHelper(helper);
  helper.start();
  return { workerHalves: () => helper.workerHalves, stats: helper.stats };
}

/** A helper with its own worker and options (tests: a worker that dies, a short lostMs). */
export function rowPassThreads(o: RowPassThreadsOptions): RowPassHelper & { readonly workerHalves: number; readonly workersLost: number; start(): unknown } {
  return new RowPassThreads(o);
}
