// A big float64 normal draw on two threads (Node): PiSSA's, MiLoRA's and LoRA-XS's base weight, drawn
// in float64 while lowering, for the SVD. The uniforms are cheap (wasm, ~2.4 ns each) and drawn here, in
// stream order, into a kept shared scratch; the Box–Muller transform (a log, a sqrt, a cos and a sin
// per pair) is the cost, and goes in parts to this thread and the draw worker (draw-threads.ts), each
// claiming the next part from a shared counter. Both run boxMullerPairs, so the numbers are those of
// one thread, whoever transforms a part. A part the worker claimed but has not finished after
// WAIT_MS (a worker that died or hangs) is done here, from the uniforms, which nothing overwrites:
// the same numbers, whatever the worker still writes.
import { setFloat64Normals } from './drawn.ts';
import { readyDrawWorker, startDrawWorker, type PairsJob } from './draw-threads.ts';
import { boxMullerPairs, type Rng } from './rng.ts';

/** draws of fewer values stay on one thread (a part must be worth a wake-up of the worker) */
export const SHARED_NORMALS_MIN = 1 << 16;
/** pairs in a part: ~0.5 ms of work, so that the two threads end close together */
const PART_PAIRS = 8192;
/** how long this thread waits for the worker's last parts before doing them itself */
const WAIT_MS = 1000;

export interface SharedNormalsOptions {
  shareDraws?: boolean;
  worker?: { offer(ctl: SharedArrayBuffer, jobs: PairsJob[]): Promise<void> };
  waitMs?: number;
}

/** uniforms kept for the next draw up to this many (8 MiB: a 1024² weight); a bigger draw's are its own */
const KEEP_MAX = 1 << 20;
/** the uniforms of the last draw (kept: its pages are touched once); dropped after a worker that did not answer */
let scratch: Float64Array | null = null;
/** a worker that did not answer in time is not asked again in this process (it may still read a scratch) */
let stalled = false;

/**
 * n Normal(mean, std) values of `r` as a new float64 array in shared memory, the numbers r.normalInto
 * writes, transformed on this thread and the draw worker; undefined (nothing drawn) where there is no
 * ready worker, no shared memory, or n < SHARED_NORMALS_MIN. For tests: `shareDraws` false leaves every
 * part to the worker (what it draws is then known); `worker` and `waitMs` stand in for the draw worker
 * and WAIT_MS.
 */
export function drawNormalsShared(mean: number, std: number, n: number, r: Rng, opts: SharedNormalsOptions = {}): Float64Array | undefined {
  const { shareDraws = true, waitMs = WAIT_MS } = opts;
  if (n < SHARED_NORMALS_MIN || stalled || typeof SharedArrayBuffer !== 'function') return undefined;
  const worker = opts.worker ?? readyDrawWorker();
  if (!worker) return undefined;
  const out = new Float64Array(new SharedArrayBuffer(8 * n));
  const first = r.state().hasSpare ? 1 : 0; // a pending sine goes first, as in normalPairsInto
  if (first) r.normalInto(out.subarray(0, 1), mean, std);
  const pairs = (n - first) >> 1;
  const u = scratch && scratch.length >= 2 * pairs ? scratch : new Float64Array(new SharedArrayBuffer(16 * pairs));
  if (u.length <= KEEP_MAX) scratch = u;
  r.uniformInto(u.subarray(0, 2 * pairs), 0, 1);
  const jobs: PairsJob[] = [];
  for (let p = 0; p < pairs; p += PART_PAIRS) {
    const count = Math.min(PART_PAIRS, pairs - p);
    jobs.push({ kind: 'pairs', u: u.buffer as SharedArrayBuffer, uOffset: 16 * p, buffer: out.buffer as SharedArrayBuffer, byteOffset: 8 * (first + 2 * p), pairs: count, a: mean, b: std });
  }
  const c = new Int32Array(new SharedArrayBuffer(4 * (2 + jobs.length)));
  void worker.offer(c.buffer as SharedArrayBuffer, jobs);
  for (let k; shareDraws && (k = Atomics.add(c, 0, 1)) < jobs.length; ) {
    transformHere(jobs[k]!);
    Atomics.store(c, 2 + k, 1);
    Atomics.add(c, 1, 1);
  }
  const until = performance.now() + waitMs;
  for (let done, left; (done = Atomics.load(c, 1)) < jobs.length && (left = until - performance.now()) > 0; ) Atomics.wait(c, 1, done, left);
  if (Atomics.load(c, 1) < jobs.length) {
    stalled = true;
    scratch = null;
    for (let k = 0; k < jobs.length; k++) if (Atomics.load(c, 2 + k) === 0) transformHere(jobs[k]!);
  }
  if (first + 2 * pairs < n) r.normalInto(out.subarray(n - 1), mean, std); // an odd one out: normal() of a fresh pair
  return out;
}

function transformHere(j: PairsJob): void {
  boxMullerPairs(new Float64Array(j.u, j.uOffset, 2 * j.pairs), 0, new Float64Array(j.buffer, j.byteOffset, 2 * j.pairs), 0, j.pairs, j.a, j.b);
}

/**
 * Draw big float64 normal tensors on two threads from now on, while `twoThreads()` (the CPU backend
 * calls this: LILY_THREADS). The first such draw in a process starts the draw worker and is drawn here
 * (a worker takes ~20 ms to start; the backend would start it at prepare anyway, for the big leaves it
 * loads); the later ones share it.
 */
export function installSharedNormals(twoThreads: () => boolean): void {
  setFloat64Normals((mean, std, n, r) => {
    if (n < SHARED_NORMALS_MIN || !twoThreads()) return undefined;
    startDrawWorker(2, 2);
    return drawNormalsShared(mean, std, n, r);
  });
}
