// The second core for the bidiagonalisation's row pass (Node-only: node:worker_threads), installed
// by the CPU backend (cpuBackend()) through bidiagonal.ts's setRowPassHelper. A big step's pass is
// cut in two halves of rows, each adding its terms of the next step's product into its own vector
// (bidiagonal.ts: the cut is made whether or not a helper is there, so the bits are the same); here
// the calling thread and one worker, which runs the same WebAssembly module on the same shared
// memory, claim the halves in turn. Each thread keeps working on the same rows from step to step (the
// cut moves slowly), so the matrix's cache lines stay on their core.
//
// Handoff through a small control area in that memory (no postMessage per step): the caller writes
// the job (the pass's arguments, each half's rows and vector), stores the claim word NEXT and bumps
// SEQ; both threads claim halves by a compare-exchange on NEXT (tag << 16 | next chunk << 8 |
// chunks, so a worker that wakes late sees either an exhausted job or the current one whole); each
// finished half stores its Σ a² and adds one to DONE, and the caller, after claiming every half it
// could, waits until DONE reaches the count (only for a half the worker is running: on a loaded
// machine the caller takes both). A worker that keeps the caller waiting far longer than a half
// takes (its core is busy elsewhere) gets no more halves of that bidiagonalisation. The worker polls
// a while before Atomics.wait (sleeping costs tens of µs a step). It is unref()'d (it never keeps
// the process alive); one that fails to start leaves every pass on the calling thread.
import { Worker } from 'node:worker_threads';
import type { BidiagonalKernel } from './bidiagonal-wasm.ts';
import { ROW_PASS_CTRL_AREA, setRowPassHelper, type RowPassHelper, type RowPassSession } from './bidiagonal.ts';

// the control area (ROW_PASS_CTRL_AREA bytes, 64-byte aligned): words, the pass's arguments (f64),
// each chunk's lo, hi, wn (i32) and its result (f64)
const SEQ = 0, READY = 1, FAILED = 2; // words, on the first 64-byte line
const NEXT = 16, DONE = 32; // each on its own line
const ARGS_BYTE = 192; // 12 f64
const CHUNKS_BYTE = 320; // 3 i32 a chunk
const RESULTS_BYTE = 384; // 1 f64 a chunk
const MAX_CHUNKS = 2; // the two halves
/** polls of SEQ before the worker sleeps (≈ 50 µs) */
const SPIN = 1 << 15;
/** the caller's wait for the worker's chunks: past this, the worker is taken for dead */
const WAIT_MS = 10_000;
/** a wait for the worker longer than this (ms): its core is busy elsewhere, so this session stops handing it halves */
const SLOW_WAIT_MS = 0.5;

const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
const ran = new Int32Array(workerData.ran);
parentPort.on('message', ({ module, memory, ctrl }) => {
  const pass = new WebAssembly.Instance(module, { env: { mem: memory } }).exports.pass;
  const c = new Int32Array(memory.buffer, ctrl, ${ROW_PASS_CTRL_AREA / 4});
  const args = new Float64Array(memory.buffer, ctrl + ${ARGS_BYTE}, 12);
  const chunks = new Int32Array(memory.buffer, ctrl + ${CHUNKS_BYTE}, ${3 * MAX_CHUNKS});
  const results = new Float64Array(memory.buffer, ctrl + ${RESULTS_BYTE}, ${MAX_CHUNKS});
  Atomics.store(c, ${READY}, 1);
  let last = 0;
  for (;;) {
    let seq, spins = 0;
    while ((seq = Atomics.load(c, ${SEQ})) === last) {
      if (++spins >= ${SPIN}) {
        Atomics.wait(c, ${SEQ}, last);
        spins = 0;
      }
    }
    if (seq < 0) break;
    last = seq;
    for (;;) {
      const cur = Atomics.load(c, ${NEXT});
      const i = (cur >> 8) & 255;
      if (i >= (cur & 255)) break;
      if (Atomics.compareExchange(c, ${NEXT}, cur, cur + 256) !== cur) continue;
      try {
        results[i] = pass(args[0], args[1], args[2], chunks[3 * i + 2], args[4], args[5], args[6], chunks[3 * i], chunks[3 * i + 1], args[9], args[10], args[11]);
      } catch {
        Atomics.store(c, ${FAILED}, i + 1);
      }
      Atomics.add(ran, 0, 1);
      Atomics.add(c, ${DONE}, 1);
    }
  }
});
`;

class RowPassThreads implements RowPassHelper {
  private worker: Worker | null | undefined;
  private dead = false;
  /** chunks the worker has run, over every session (for tests and measurements) */
  private readonly ran = new Int32Array(new SharedArrayBuffer(4));
  get workerChunks(): number {
    return Atomics.load(this.ran, 0);
  }

  attach(kernel: BidiagonalKernel, ctrl: number): RowPassSession | null {
    if (!(kernel.memory.buffer instanceof SharedArrayBuffer)) return null;
    const worker = this.start();
    if (!worker) return null;
    worker.postMessage({ module: kernel.module, memory: kernel.memory, ctrl });
    return new Session(kernel, ctrl);
  }

  private start(): Worker | null {
    if (this.dead) return null;
    if (this.worker === undefined) {
      try {
        // execArgv: []: the parent's flags (--import tsx) would load a TypeScript hook the worker does not need
        const w = new Worker(WORKER_SRC, { eval: true, execArgv: [], workerData: { ran: this.ran.buffer } });
        w.unref();
        const die = () => {
          this.dead = true;
          this.worker = null;
        };
        w.on('error', die);
        w.on('exit', die);
        this.worker = w;
      } catch {
        this.worker = null;
      }
    }
    return this.worker;
  }
}

class Session implements RowPassSession {
  private readonly c: Int32Array;
  private readonly args: Float64Array;
  private readonly chunks: Int32Array;
  private readonly results: Float64Array;
  private seq = 0;
  private tag = 0;
  /** the worker kept us waiting (a loaded machine): the rest of this bidiagonalisation runs here */
  private slow = false;

  constructor(
    private readonly kernel: BidiagonalKernel,
    ctrl: number,
  ) {
    const buf = kernel.memory.buffer;
    this.c = new Int32Array(buf, ctrl, ROW_PASS_CTRL_AREA / 4);
    this.args = new Float64Array(buf, ctrl + ARGS_BYTE, 12);
    this.chunks = new Int32Array(buf, ctrl + CHUNKS_BYTE, 3 * MAX_CHUNKS);
    this.results = new Float64Array(buf, ctrl + RESULTS_BYTE, MAX_CHUNKS);
  }

  ready(): boolean {
    return !this.slow && Atomics.load(this.c, READY) === 1;
  }

  run(args: number[], chunks: [number, number, number][]): [number, number] {
    const { c, results } = this;
    const count = chunks.length;
    if (count !== MAX_CHUNKS) throw new Error(`row pass: ${count} chunks`);
    // the previous job is over (DONE reached its count): its words are free to rewrite
    this.args.set(args);
    chunks.forEach((ch, i) => this.chunks.set(ch, 3 * i));
    Atomics.store(c, DONE, 0);
    this.tag = (this.tag + 1) & 0x7fff;
    Atomics.store(c, NEXT, (this.tag << 16) | count);
    this.seq = (this.seq + 1) & 0x3fffffff || 1; // never 0 (the worker's start) nor negative (close)
    Atomics.store(c, SEQ, this.seq);
    Atomics.notify(c, SEQ);
    const run = (i: number) => {
      const [lo, hi, wn] = chunks[i];
      results[i] = this.kernel.pass(args[0], args[1], args[2], wn, args[4], args[5], args[6], lo, hi, args[9], args[10], args[11]);
    };
    for (;;) {
      const cur = Atomics.load(c, NEXT);
      const i = (cur >> 8) & 255;
      if (i >= (cur & 255)) break;
      if (Atomics.compareExchange(c, NEXT, cur, cur + 256) !== cur) continue;
      run(i);
      Atomics.add(c, DONE, 1);
    }
    // the worker's half: poll (it takes about as long as ours)
    if (Atomics.load(c, DONE) < count) {
      const t0 = performance.now();
      for (let polls = 0; Atomics.load(c, DONE) < count; polls++)
        if ((polls & 0xffff) === 0xffff && performance.now() - t0 > WAIT_MS) throw new Error('svd: the row-pass worker stopped answering');
      // a wait far longer than a half: the worker's core is taken (a loaded machine), where every
      // such wait costs a time slice (ms): the remaining steps run here (both halves, the same bits)
      if (performance.now() - t0 > SLOW_WAIT_MS) this.slow = true;
    }
    const failed = Atomics.load(c, FAILED);
    if (failed) {
      // a trap on the worker: it left its rows half done, which cannot be undone; run it here, where it surfaces
      Atomics.store(c, FAILED, 0);
      run(failed - 1);
      throw new Error('svd: the row pass failed on the worker thread');
    }
    return [results[0], results[1]];
  }

  close(): void {
    Atomics.store(this.c, SEQ, -1);
    Atomics.notify(this.c, SEQ);
  }
}

let installed: RowPassThreads | undefined;

/**
 * Give the bidiagonalisation a second thread for its big steps (idempotent; the worker starts at the
 * first SVD). Returns how many chunks the worker has run so far (tests check that it takes some).
 */
export function installRowPassThreads(): { workerChunks(): number } {
  const helper = (installed ??= new RowPassThreads());
  setRowPassHelper(helper);
  return { workerChunks: () => helper.workerChunks };
}
