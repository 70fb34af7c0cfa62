// The second core for the bidiagonalisation's row pass (Node-only: node:worker_threads), installed
// by the CPU backend through bidiagonal.ts's setRowPassHelper. bidiagonal.ts cuts a big step's pass
// into CHUNKS runs of rows, each adding its terms of the next step's product into its own vector (the
// cut depends only on the sizes, so the bits are the same with or without this thread); here one
// worker, running the same WebAssembly module on the same shared memory, takes chunks from the back
// while the calling thread takes them from the front, each as many as it gets to: a worker that
// wakes late or runs slowly (its core shared with another thread) costs at most one chunk's wait.
//
// Handoff, without a message per step: a small shared control block of i32 words, those both
// threads write each on its own 64-byte line. The caller writes the step's arguments and row bounds,
// stores CLAIM = tag | back | front (the unclaimed chunks are front..back−1), then bumps JOB. Each
// thread claims a chunk by a compare-exchange on CLAIM (front + 1, or back − 1); a worker that reads a
// stale tag leaves the word alone. When the two meet, the caller waits until the worker has finished
// the chunks from the meeting point on (DONE counts them; their Σ a² are in RESULTS). The worker
// polls JOB a while after each job (the next step comes within microseconds) before it sleeps in
// Atomics.wait (SLEEPING tells the caller to notify); the caller, waiting, polls a while and then
// sleeps too (on a busy machine its core may be the one the worker needs).
//
// A session (one bidiagonalisation) starts with a message carrying the memory (the worker leaves its
// loop for the event loop between sessions). The worker coming late for several jobs in a row, or a
// wait much longer than a chunk takes, pauses the handoff for some steps, twice as many each time; a
// wait past `lostMs` (a dead or stuck worker) gives the worker up: it is terminated, and bidiagonal.ts
// starts that bidiagonalisation again on the calling thread alone (the same bits). The worker is
// unref()'d: it never keeps the process alive.
import { Worker } from 'node:worker_threads';
import { CHUNKS, setRowPassHelper, type RowPassHelper, type RowPassSession, RowPassLost, type RowPassVectors } from './bidiagonal.ts';

// i32 words of the control block (16 words = one 64-byte line apart where both threads write)
const JOB = 0, CLAIM = 16, DONE = 32, SLEEPING = 48, CALLER_SLEEPING = 64;
const SESSION = 80, READY = 81, CHUNKS_RUN = 82, DIE_AT = 83, BOUNDS = 84; // BOUNDS: CHUNKS + 1 words
const WORDS = 96;
// f64 slots after the words: the job's arguments, then each chunk's Σ a² (RESULTS + c)
const K = 0, TAU = 1, TAU_R = 2, SCALE = 3, END = 4, RESULTS = 5;
const SLOTS = RESULTS + CHUNKS;
// CLAIM = tag << 10 | back << 5 | front
const TAG_SHIFT = 10, TAG_MASK = (1 << 21) - 1, BACK = 1 << 5;
/**
 * how long (ms) the worker polls JOB before it sleeps: longer than a step takes, so that it stays
 * awake through a bidiagonalisation (a sleeping worker wakes too late for the chunks of the next step)
 */
const SPIN_MS = 1;
/** polls of DONE before the caller sleeps until the worker's chunks are done */
const CALLER_SPIN = 1 << 12;
/** a wait for the worker's chunks longer than this (ms) pauses the handoff for PAUSE_STEPS steps, then twice that… */
const SLOW_MS = 1;
const PAUSE_STEPS = 16;
/** jobs in a row the worker took no chunk of, before a pause */
const MISSES = 4;
/** steps before the end of a pause at which a sleeping worker is woken */
const WAKE_AHEAD = 3;

const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
const c = new Int32Array(workerData.ctl, 0, ${WORDS});
const f = new Float64Array(workerData.ctl, ${4 * WORDS}, ${SLOTS});
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
    const tag = j & ${TAG_MASK};
    for (;;) {
      const cur = Atomics.load(c, ${CLAIM});
      const back = (cur >> 5) & 31;
      if (cur >>> ${TAG_SHIFT} !== tag || (cur & 31) >= back) break;
      if (Atomics.compareExchange(c, ${CLAIM}, cur, cur - ${BACK}) !== cur) continue;
      const ch = back - 1, lo = c[${BOUNDS} + ch], hi = c[${BOUNDS} + ch + 1];
      // for tests: a worker told to die exits halfway through a chunk, leaving its rows half done
      if (Atomics.add(c, ${CHUNKS_RUN}, 1) + 1 === c[${DIE_AT}]) {
        pass(at.a, at.w, at.u, at.wn[ch], at.n, f[${K}], lo, (lo + hi) >> 1, f[${TAU}], f[${TAU_R}], f[${SCALE}]);
        process.exit(1);
      }
      f[${RESULTS} + ch] = pass(at.a, at.w, at.u, at.wn[ch], at.n, f[${K}], lo, hi, f[${TAU}], f[${TAU_R}], f[${SCALE}]);
      Atomics.add(c, ${DONE}, 1);
      if (Atomics.load(c, ${CALLER_SLEEPING})) Atomics.notify(c, ${DONE});
    }
  }
});
`;

export interface RowPassThreadsOptions {
  /** a wait for the worker's chunks past this (ms) gives the worker up (default 2000: far past a preemption on a busy machine) */
  lostMs?: number;
  /** for tests: the worker exits halfway through its n-th chunk (counted over every worker's) */
  dieAtChunk?: number;
}

/** What the worker did, over every session (measurements; bench/svd.ts prints them). */
export interface RowPassStats {
  /** jobs (steps' passes) offered to the worker */
  offered: number;
  /** chunks the worker ran */
  workerChunks: number;
  /** offered jobs the worker came too late for (this thread ran every chunk) */
  late: number;
  /** waits for the worker's chunks longer than SLOW_MS (each pauses the handoff) */
  slow: number;
  /** ms this thread spent waiting for the worker's chunks */
  waitedMs: number;
}

class RowPassThreads implements RowPassHelper {
  readonly stats: RowPassStats = { offered: 0, workerChunks: 0, late: 0, slow: 0, waitedMs: 0 };
  private worker: Worker | null = null;
  private readonly ctl = new SharedArrayBuffer(4 * WORDS + 8 * SLOTS);
  private readonly c = new Int32Array(this.ctl, 0, WORDS);
  private readonly f = new Float64Array(this.ctl, 4 * WORDS, SLOTS);
  private session = 0;
  /** workers that failed to start, died or were given up: past a few, no more are started */
  private losses = 0;

  constructor(private readonly o: RowPassThreadsOptions) {}

  /** chunks the workers have claimed (tests and measurements) */
  get workerChunks(): number {
    return Atomics.load(this.c, CHUNKS_RUN);
  }
  /** workers that failed to start, died or were given up */
  get workersLost(): number {
    return this.losses;
  }

  /** The worker, started here if there is none (it boots in tens of ms; until then every chunk runs on the caller). */
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
      Atomics.store(this.c, DIE_AT, this.o.dieAtChunk ?? 0);
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
    return new Session(this.stats, this, this.c, this.f, session, this.o.lostMs ?? 2000);
  }

  /** the session's worker kept it waiting past lostMs */
  giveUp(): void {
    this.lose();
  }
}

class Session implements RowPassSession {
  /** steps to run here alone (after the worker kept us waiting, or missed jobs), and the next such pause */
  private pause = 0;
  private nextPause = PAUSE_STEPS;
  /** jobs in a row the worker took no chunk of */
  private misses = 0;

  constructor(
    private readonly stats: RowPassStats,
    private readonly threads: RowPassThreads,
    private readonly c: Int32Array,
    private readonly f: Float64Array,
    private readonly session: number,
    private readonly lostMs: number,
  ) {}

  private backOff(): void {
    this.pause = this.nextPause;
    this.nextPause *= 2;
    this.misses = 0;
  }

  offer(k: number, tau: number, tauR: number, scale: number, bounds: Int32Array): number {
    const { c, f } = this;
    if (this.pause > 0) {
      // a worker that slept through the pause is woken a few steps before its end (a wake-up takes
      // longer than a chunk, so a worker woken by the offer itself would be late for it again)
      if (--this.pause === WAKE_AHEAD && Atomics.load(c, SLEEPING)) Atomics.notify(c, JOB);
      return 0;
    }
    if (Atomics.load(c, READY) !== this.session) return 0;
    this.stats.offered++;
    // the last job is over (its chunks all done): its words are free to rewrite
    f[K] = k;
    f[TAU] = tau;
    f[TAU_R] = tauR;
    f[SCALE] = scale;
    for (let i = 0; i <= CHUNKS; i++) c[BOUNDS + i] = bounds[i];
    const job = (Atomics.load(c, JOB) + 1) | 0;
    Atomics.store(c, DONE, 0);
    Atomics.store(c, CLAIM, ((job & TAG_MASK) << TAG_SHIFT) | (CHUNKS * BACK));
    Atomics.store(c, JOB, job);
    if (Atomics.load(c, SLEEPING)) Atomics.notify(c, JOB);
    return job;
  }

  next(job: number): number {
    const { c } = this;
    for (;;) {
      const cur = Atomics.load(c, CLAIM);
      const front = cur & 31;
      if (front >= ((cur >> 5) & 31)) return -1;
      if (Atomics.compareExchange(c, CLAIM, cur, cur + 1) === cur) return front;
    }
  }

  finish(job: number, below: Float64Array): void {
    const { c, f } = this;
    const theirs = CHUNKS - (Atomics.load(c, CLAIM) & 31);
    this.stats.workerChunks += theirs;
    if (theirs === 0) {
      // the worker came late for the whole job: on a busy machine it shares a core with this thread
      // (its polling then slows this one down), so after a few such jobs it is left alone a while
      this.stats.late++;
      if (++this.misses >= MISSES) this.backOff();
      return;
    }
    this.misses = 0;
    if (Atomics.load(c, DONE) !== theirs) {
      const t0 = performance.now();
      for (let polls = 1; Atomics.load(c, DONE) !== theirs; polls++) {
        if (polls < CALLER_SPIN) continue;
        Atomics.store(c, CALLER_SLEEPING, 1);
        const done = Atomics.load(c, DONE);
        if (done !== theirs) Atomics.wait(c, DONE, done, 1);
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
    for (let ch = CHUNKS - theirs; ch < CHUNKS; ch++) below[ch] = f[RESULTS + ch];
  }

  close(): void {
    // a job that tells the worker the session is over (it goes back to its event loop); its CLAIM
    // has no chunk to take
    this.f[END] = 1;
    const job = (Atomics.load(this.c, JOB) + 1) | 0;
    Atomics.store(this.c, CLAIM, (job & TAG_MASK) << TAG_SHIFT);
    Atomics.store(this.c, JOB, job);
    Atomics.notify(this.c, JOB);
  }
}

let installed: RowPassThreads | undefined;

/**
 * Give the bidiagonalisation a second thread for its big steps (idempotent). The worker starts at the
 * first bidiagonalisation big enough to be cut (a compile without an SVD never starts one) and joins
 * that one once it has booted (tens of ms). Returns how many chunks the worker has run so far.
 */
export function installRowPassThreads(o: RowPassThreadsOptions = {}): { workerChunks(): number; stats: RowPassStats } {
  const helper = (installed ??= new RowPassThreads(o));
  setRowPassHelper(helper);
  return { workerChunks: () => helper.workerChunks, stats: helper.stats };
}

/** A helper with its own worker and options (tests: a worker that dies, a short lostMs). */
export function rowPassThreads(o: RowPassThreadsOptions): RowPassHelper & { readonly workerChunks: number; readonly workersLost: number; start(): unknown } {
  return new RowPassThreads(o);
}
