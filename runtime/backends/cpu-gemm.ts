/**
 * CPU f32 GEMM for Node: out = alpha · op(A) · op(B) (+ out if accumulate),
 * row-major, op(X) = X or Xᵀ.
 *
 * Chosen by measurement (bench/gemm.ts, see the table in the report / the
 * header of that file): a WebAssembly SIMD kernel generated at load time
 * (wasm-gemm-kernel.ts, no toolchain, no download), running on the calling
 * thread plus one worker thread per extra core that shares the same
 * WebAssembly.Memory. gemm() stays SYNCHRONOUS: the main thread computes its
 * share of the rows and then blocks in Atomics.wait for the workers (Node
 * allows Atomics.wait on the main thread; browsers do not).
 *
 * Traps met on the way (all measured here):
 *  - A worker_thread starts asynchronously (~30–60 ms), but gemm() is sync:
 *    until the worker reports ready, gemm runs single-threaded. Call
 *    `await cpuGemmReady()` once at start-up to get both cores from the
 *    first call (benchmarks must do this, or the first runs are 1-thread).
 *  - The worker pool's own traps (start-up, unref, job slots, a trap in a
 *    worker) are in the header of cpu-gemm-workers.ts.
 *  - Shared WebAssembly.Memory: `memory.grow()` does NOT detach old
 *    SharedArrayBuffers (unlike non-shared memory), but `memory.buffer`
 *    returns a NEW, longer SharedArrayBuffer; views must be re-created after
 *    growth to see the new pages. The control block lives in page 0 so every
 *    view covers it.
 *  - Shared memory needs a declared maximum; we reserve 2 GiB (32768 pages)
 *    of address space, which is virtual only.
 *  - Wasm SIMD is 128-bit only and has no FMA; relaxed-SIMD's relaxed_madd
 *    is behind --experimental-wasm-relaxed-simd in Node 20 (V8 11.3), where
 *    it measured +20%. The engine validates a relaxed build first and uses it
 *    only where it validates (default on in newer V8), so Node 20 without the
 *    flag runs mul+add. The 4×8 micro-tile (8 v128 accumulators + 2 B vectors + 1
 *    broadcast + 1 temp) fits the 15 XMM registers TurboFan allocates
 *    (xmm15 is its scratch). Unrolling k (U > 1) is a LOSS: TurboFan keeps
 *    the loads in program order but sinks the arithmetic after all of them,
 *    so the unrolled body spills accumulators to the stack
 *    (`node --print-wasm-code --no-liftoff` shows vmovups [rbp-…] in the
 *    loop); U = 1 compiles to a clean 6-load / 8-mul / 8-add loop.
 *  - V8 runs new wasm code in Liftoff (baseline) first; the first gemm call
 *    of a process is ~4× slower until TurboFan code is swapped in. Benchmarks
 *    must warm up.
 *  - The host is a 2-vCPU VM whose throughput varies ±30% minute to minute;
 *    2 threads reach 1.5–1.8× one thread on 1024×768@768×768 when it is
 *    quiet. A sleeping worker takes tens of µs to wake, so below
 *    `minFlopsForThreads` (4 MFLOP, measured break-even) gemm stays on the
 *    calling thread.
 *  - Rows of Aᵀ are read in place with a strided kernel ('cols' variant):
 *    no transpose copy of A is ever made. Bᵀ is packed in JS.
 *  - Copying A in and C out of wasm memory costs ~0.3–0.5 ms per 3 MB; for
 *    the skinny LoRA shapes (≈1 ms of compute) that is 20–40% of the call.
 *    The copies are split by row range and overlapped with the worker's
 *    compute (the caller copies the worker's rows first, then its own, and
 *    takes a smaller share of rows). Arrays obtained from `allocF32()` live
 *    inside the wasm memory and are used in place: no copies at all.
 */
import { CTRL_BYTES, GemmWorkerPool, hostThreads, type WorkerHandle } from './cpu-gemm-workers.ts';
import { buildGemmWasm, DEFAULT_KERNEL, type GemmKernelConfig } from './wasm-gemm-kernel.ts';

export interface GemmOptions {
  /** A is given as K×M and used transposed */
  transA?: boolean;
  /** B is given as N×K and used transposed */
  transB?: boolean;
  /** out += alpha·op(A)·op(B) instead of out = … */
  accumulate?: boolean;
  /** scale (default 1) */
  alpha?: number;
}

export interface CpuGemmConfig {
  kernel: GemmKernelConfig;
  /** K block (B micro-panel kc×NR lives in L1) */
  kc: number;
  /** row block (A block mc×kc lives in L2) */
  mc: number;
  /** total threads including the caller's; 1 disables workers */
  threads: number;
  /** use threads only above this many FLOPs (2·M·N·K) */
  minFlopsForThreads: number;
  /** Atomics.load polls before the caller sleeps in Atomics.wait for a worker */
  spin: number;
}

export const DEFAULT_CPU_GEMM_CONFIG: CpuGemmConfig = {
  kernel: DEFAULT_KERNEL,
  kc: 256,
  mc: 128,
  threads: hostThreads(8), // from the worker module: the Node-only part (threads, cores) lives there
  minFlopsForThreads: 4_000_000, // measured break-even ≈ 3–6 MFLOP (a sleeping worker takes tens of µs to wake)
  spin: 2000,
};

type RunFn = (
  a: number, sai: number, sak: number, bp: number, pstride: number, c: number, ldc: number,
  m: number, np: number, K: number, kc: number, mc: number, alpha: number, beta: number,
) => void;
interface GemmExports {
  run_n: RunFn;
  run_t: RunFn;
  pack_b: (src: number, ldb: number, dst: number, K: number, np: number) => void;
}

const PAGE = 65536;
const MAX_PAGES = 32768; // 2 GiB of reserved address space (shared memory needs a maximum)

/**
 * One WebAssembly SIMD GEMM engine: a shared memory, the generated module,
 * and a pool of (threads − 1) workers. Most code wants the module-level
 * `gemm()`, which uses a default engine.
 */
export class WasmGemm {
  readonly config: CpuGemmConfig;
  readonly memory: WebAssembly.Memory;
  private readonly module: WebAssembly.Module;
  private readonly ex: GemmExports;
  private f32: Float32Array;
  private readonly pool: GemmWorkerPool;
  /** bump allocator for allocF32 (grows up from CTRL_BYTES) */
  private heapTop = CTRL_BYTES;
  private readonly NR: number;
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  constructor(config: Partial<CpuGemmConfig> = {}) {
    this.config = { ...DEFAULT_CPU_GEMM_CONFIG, ...config };
    this.NR = this.config.kernel.NR;
    this.memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    this.module = new WebAssembly.Module(pickKernelBytes(this.config.kernel));
    this.ex = new WebAssembly.Instance(this.module, { env: { mem: this.memory } }).exports as unknown as GemmExports;
    this.f32 = new Float32Array(this.memory.buffer);
    this.buffers.add(this.memory.buffer);
    this.pool = new GemmWorkerPool(this.module, this.memory);
  }

  /** Start the worker pool; resolves when every worker can take jobs (or has failed). */
  ready(): Promise<void> {
    return this.pool.ready(this.config.threads - 1);
  }

  /** number of threads a big gemm uses right now (1 until the workers are ready) */
  get activeThreads(): number {
    return 1 + this.pool.live().length;
  }

  /** Stop the workers (the engine keeps working single-threaded). */
  close(): Promise<void> {
    return this.pool.close();
  }

  private ensureBytes(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      if (this.memory.buffer.byteLength / PAGE + pages > MAX_PAGES) {
        throw new RangeError(`gemm: needs ${end} bytes of wasm memory, more than the ${MAX_PAGES * PAGE} reserved`);
      }
      this.memory.grow(pages);
    }
    if (this.f32.buffer.byteLength !== this.memory.buffer.byteLength) {
      this.f32 = new Float32Array(this.memory.buffer);
      this.buffers.add(this.memory.buffer);
    }
  }

  /** whether x views this engine's memory (any SharedArrayBuffer it has handed out: growth never detaches them) */
  owns(x: Float32Array): boolean {
    return this.buffers.has(x.buffer);
  }

  /**
   * A Float32Array inside the engine's memory (bump-allocated, never freed:
   * for long-lived weights, activations and gradients). gemm() reads A and B
   * and writes C in place when they are such views (B and C only when N is
   * a multiple of NR = 8 and B is not transposed), skipping the copies.
   * `out` must not alias `a` or `b`.
   */
  allocF32(n: number): Float32Array {
    const off = this.heapTop;
    this.heapTop = align(off + n * 4, 64);
    this.ensureBytes(this.heapTop);
    return new Float32Array(this.memory.buffer, off, n);
  }

  gemm(a: Float32Array, b: Float32Array, out: Float32Array, M: number, K: number, N: number, opts: GemmOptions = {}): void {
    checkArgs(a, b, out, M, K, N);
    const alpha = opts.alpha ?? 1;
    const accumulate = !!opts.accumulate;
    if (M === 0 || N === 0) return;
    if (K === 0 || alpha === 0) {
      if (!accumulate) out.fill(0, 0, M * N);
      return;
    }
    const NR = this.NR;
    const np = Math.ceil(N / NR);
    const Npad = np * NR;

    // ---- regions: operands already inside the engine memory are used in
    // place (allocF32 views); everything else is copied into scratch above
    // the allocF32 heap ----
    const aIn = this.owns(a);
    const bIn = this.owns(b) && !opts.transB && Npad === N;
    const cIn = this.owns(out) && Npad === N;
    let off = this.heapTop;
    const reserve = (bytes: number) => {
      const at = off;
      off = align(off + bytes, 64);
      return at;
    };
    const offA = aIn ? a.byteOffset : reserve(M * K * 4);
    const offBraw = bIn ? b.byteOffset : opts.transB ? 0 : reserve(K * Npad * 4);
    const offBp = reserve(np * K * NR * 4);
    const offC = cIn ? out.byteOffset : reserve(M * Npad * 4);
    this.ensureBytes(off);
    const f = this.f32;

    const sai = opts.transA ? 4 : 4 * K;
    const sak = opts.transA ? 4 * M : 4;
    const cBase = offC >> 2;

    // ---- copies, by row range so they can overlap the workers' compute ----
    // (row-major A and C rows are contiguous; Aᵀ is copied whole up front)
    const copyIn = (i0: number, m: number) => {
      if (!aIn && !opts.transA) f.set(a.subarray(i0 * K, (i0 + m) * K), (offA >> 2) + i0 * K);
      if (accumulate && !cIn) {
        if (Npad === N) f.set(out.subarray(i0 * N, (i0 + m) * N), cBase + i0 * N);
        else for (let i = i0; i < i0 + m; i++) f.set(out.subarray(i * N, i * N + N), cBase + i * Npad);
      }
    };
    const copyOut = (i0: number, m: number) => {
      if (cIn) return;
      const src = this.f32;
      if (Npad === N) out.set(src.subarray(cBase + i0 * N, cBase + (i0 + m) * N), i0 * N);
      else for (let i = i0; i < i0 + m; i++) out.set(src.subarray(cBase + i * Npad, cBase + i * Npad + N), i * N);
    };
    if (!aIn && opts.transA) f.set(a.length === M * K ? a : a.subarray(0, M * K), offA >> 2);

    // ---- B → panels (every thread needs all of it) ----
    if (!opts.transB) {
      const raw = offBraw >> 2;
      if (bIn) {
        /* packed straight from the caller's array */
      } else if (Npad === N) f.set(b.length === K * N ? b : b.subarray(0, K * N), raw);
      else for (let k = 0; k < K; k++) f.set(b.subarray(k * N, k * N + N), raw + k * Npad);
      this.ex.pack_b(offBraw, Npad * 4, offBp, K, np);
    } else {
      // B given N×K: panel p, row k, lane c = B[(p·NR + c)·K + k]
      const bp = offBp >> 2;
      for (let j = 0; j < Npad; j++) {
        const p = (j / NR) | 0, c = j - p * NR;
        let d = bp + p * K * NR + c;
        if (j < N) {
          let s = j * K;
          for (let k = 0; k < K; k++, d += NR) f[d] = b[s++]!;
        } else for (let k = 0; k < K; k++, d += NR) f[d] = 0;
      }
    }

    // ---- run: rows split over threads (panels when M is small) ----
    const ldc = Npad * 4;
    const pstride = K * NR * 4;
    const beta = accumulate ? 1 : 0;
    const variant = opts.transA ? 1 : 0;
    const run = opts.transA ? this.ex.run_t : this.ex.run_n;
    const { kc, mc } = this.config;
    const MR = this.config.kernel.MR;
    const live = this.pool.live();
    const rowSplit = M >= 4 * NR;
    const T =
      2 * M * N * K >= this.config.minFlopsForThreads ? Math.min(1 + live.length, rowSplit ? Math.floor(M / MR) : np) : 1;
    // job: [row0, rows, panel0, panels]
    const jobs: Array<[number, number, number, number]> = [];
    if (T <= 1) jobs.push([0, M, 0, np]);
    else if (rowSplit) {
      // The caller also copies every row in and out, so it takes fewer rows:
      // weight c / (c + r + o) against 1 per worker, with c, r, o the per-row
      // compute, copy-in and copy-out times (≈18 GFLOP/s, ≈8 GB/s here).
      const c = (2 * K * N) / 18e9;
      const r = opts.transA || aIn ? 0 : (4 * K) / 8e9;
      const o = cIn ? 0 : ((accumulate ? 8 : 4) * N) / 8e9;
      const wMain = c / (c + r + o);
      const own = Math.max(MR, Math.round((M * wMain) / (wMain + T - 1) / MR) * MR);
      const per = Math.ceil((M - own) / (T - 1) / MR) * MR;
      jobs.push([0, Math.min(own, M), 0, np]);
      for (let i0 = own; i0 < M; i0 += per) jobs.push([i0, Math.min(per, M - i0), 0, np]);
    } else {
      const per = Math.ceil(np / T);
      for (let p0 = 0; p0 < np; p0 += per) jobs.push([0, M, p0, Math.min(per, np - p0)]);
    }
    const runJob = ([i0, m, p0, npj]: [number, number, number, number]) =>
      run(offA + i0 * sai, sai, sak, offBp + p0 * pstride, pstride, offC + i0 * ldc + p0 * NR * 4, ldc, m, npj, K, kc, mc, alpha, beta);

    if (jobs.length === 1) {
      copyIn(0, M);
      runJob(jobs[0]!);
      copyOut(0, M);
      return;
    }
    if (!rowSplit) copyIn(0, M); // every panel job reads all rows
    const used: Array<{ h: WorkerHandle; job: [number, number, number, number] }> = [];
    // workers' rows first: copy them in, hand them off, then do our own share
    for (let j = 1; j < jobs.length; j++) {
      const h = live[j - 1]!;
      const job = jobs[j]!;
      const [i0, m, p0, npj] = job;
      if (rowSplit) copyIn(i0, m);
      this.pool.post(h, variant, [offA + i0 * sai, sai, sak, offBp + p0 * pstride, pstride, offC + i0 * ldc + p0 * NR * 4, ldc, m, npj, K, kc, mc, alpha, beta]);
      used.push({ h, job });
    }
    const own = jobs[0]!;
    if (rowSplit) copyIn(own[0], own[1]);
    runJob(own);
    if (rowSplit) copyOut(own[0], own[1]);
    for (const { h, job } of used) {
      if (this.pool.join(h, this.config.spin)) runJob(job); // a trap: rethrown here, on the caller's thread
      if (rowSplit) copyOut(job[0], job[1]);
    }
    if (!rowSplit) copyOut(0, M);
  }
}

/**
 * The module bytes; with `kernel.relaxed` unset, use relaxed-SIMD FMA
 * (f32x4.relaxed_madd) where this V8 validates it (Node ≥ 22, or Node 20 with
 * --experimental-wasm-relaxed-simd: +20% measured), else plain mul+add.
 */
function pickKernelBytes(kernel: GemmKernelConfig): Uint8Array<ArrayBuffer> {
  if (kernel.relaxed === undefined) {
    const relaxed = buildGemmWasm({ ...kernel, relaxed: true }, MAX_PAGES);
    if (WebAssembly.validate(relaxed)) return relaxed;
  }
  return buildGemmWasm({ ...kernel, relaxed: !!kernel.relaxed }, MAX_PAGES);
}

/** whether gemm() runs the relaxed-SIMD (FMA) kernel in this process */
export function relaxedSimdAvailable(): boolean {
  return WebAssembly.validate(buildGemmWasm({ ...DEFAULT_KERNEL, relaxed: true }, MAX_PAGES));
}

function align(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

function checkArgs(a: Float32Array, b: Float32Array, out: Float32Array, M: number, K: number, N: number): void {
  for (const [n, v] of [['M', M], ['K', K], ['N', N]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`gemm: ${n} must be a non-negative integer, got ${v}`);
  }
  if (a.length < M * K) throw new RangeError(`gemm: a has ${a.length} elements, needs M·K = ${M * K}`);
  if (b.length < K * N) throw new RangeError(`gemm: b has ${b.length} elements, needs K·N = ${K * N}`);
  if (out.length < M * N) throw new RangeError(`gemm: out has ${out.length} elements, needs M·N = ${M * N}`);
}

let defaultEngine: WasmGemm | null = null;

/** The process-wide engine behind gemm(); workers start lazily on first use. */
export function cpuGemmEngine(): WasmGemm {
  if (!defaultEngine) {
    defaultEngine = new WasmGemm();
    void defaultEngine.ready();
  }
  return defaultEngine;
}

/** Resolves when gemm() can use every core (start-up; optional). */
export function cpuGemmReady(): Promise<void> {
  return cpuGemmEngine().ready();
}

/**
 * out = alpha · op(A) · op(B)  (+ out when accumulate). Row-major.
 * op(A) is M×K (A given K×M when transA), op(B) is K×N (B given N×K when transB).
 */
export function gemm(
  a: Float32Array, b: Float32Array, out: Float32Array, M: number, K: number, N: number, opts?: GemmOptions,
): void {
  cpuGemmEngine().gemm(a, b, out, M, K, N, opts);
}
