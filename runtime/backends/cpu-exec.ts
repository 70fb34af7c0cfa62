// The fast CPU backend: every kernel of a plan compiled once (compiler/codegen/cpu.ts: generated JS
// loops, or a gemm + generated epilogue), every buffer allocated once at prepare(), temps sharing
// memory by the plan's liveness slots; run() allocates nothing but gemm's own bookkeeping. The
// gemm is OpenBLAS through the native binding where it was built (native-blas.ts; buffers are then
// one plain Float32Array block), else the WebAssembly SIMD gemm, with every buffer inside its wasm
// memory (so it reads operands and writes results in place, no copies).
//
// Storage rules (each a trap met or guarded against):
//  - leaves (inputs, params) and plan outputs get private storage: an output in a shared slot
//    could be overwritten by a later temp before read(), and assign() swaps arrays, which only
//    works on private ones;
//  - a kernel whose output would share a slot with one of its own inputs (a liveness bug, or a
//    plan that frees inputs early) gets a private output: gemm must never write over its operands,
//    and a reduce reading what it writes is wrong anyway;
//  - scratch for packed GEMM operands / results (S[0..2]) is one set per executable, sized for the
//    largest kernel: kernels run one at a time.
//
// Loops kernels (elementwise, reductions) run as WebAssembly SIMD where they have a rendering
// (cpu-wasm-loops.ts, wasm-loops.ts), else as the generated JS. The block then lives in a
// WebAssembly.Memory — the wasm gemm engine's (shared), or on the OpenBLAS path one of its own,
// sized once and never grown (growing would detach the ArrayBuffer and every view of it): OpenBLAS
// reads the same floats through the typed arrays' data pointers (shared or not: N-API's typed array
// info gives the data pointer of either). On that path the memory is shared and a worker takes chunks
// of each big loops kernel (wasm-loops-threads.ts; `threads: 1` or LILY_THREADS=1 turns it off).
// `loops: 'js'` or LILY_LOOPS=js keeps every kernel JavaScript (and the block a plain array).
import type { BufferId, KernelPlan } from '../../compiler/fuse/kernel-ir.ts';
import type { CompiledCpuKernel, CpuKernelOptions, GemmBatchFn, GemmFn } from '../../compiler/codegen/cpu.ts';
import { compileCpuKernels } from '../../compiler/codegen/cpu-share.ts';
import { timed, type Timings } from '../../compiler/timings.ts';
import type { Backend, Executable, HostAccess } from '../executable.ts';
import { arenaOf, type CpuArena } from './cpu-arena.ts';
import { cpuGemmEngine, type WasmGemm } from './cpu-gemm.ts';
import { attachWasmLoops, type CpuExecKernel, type LoopsEngine, loopsEngine, type LoopsSplitting, passCollector, planWasmLoops, type WasmLoopsPlan, type WasmPass } from './cpu-wasm-loops.ts';
import { loadNativeBlas } from './native-blas.ts';
import { CTRL_WORDS, type LoopsWorker, LoopsThreads, startLoopsWorker } from './wasm-loops-threads.ts';
import { loadFloat32, startDrawWorker, THREAD_MIN_VALUES } from '../init/draw-threads.ts';
import { installRowPassThreads } from '../tensor/bidiagonal-threads.ts';
import { setRowPassHelper } from '../tensor/bidiagonal.ts';
import { pendingZeros } from '../init/drawn.ts';
import { installSharedNormals } from '../init/normal-threads.ts';
import type { Tensor } from '../tensor/tensor.ts';

// a big float64 normal draw (an SVD initialiser's base weight, while lowering) shares the draw worker
installSharedNormals(() => loopsThreads() === 2);

export interface CpuBackendOptions extends Omit<CpuKernelOptions, 'gemm' | 'gemmBatch'> {
  /** use the wasm gemm (default true; false: generated loops only, plain Float32Arrays) */
  gemm?: boolean;
  /** the wasm gemm engine (default: the process-wide one) */
  engine?: WasmGemm;
  /**
   * which gemm: 'auto' (default) OpenBLAS through the native binding when it was built, else the
   * wasm SIMD gemm; 'native' insists (prepare() throws with the reason when it is missing); 'wasm'.
   */
  blas?: 'auto' | 'native' | 'wasm';
  /**
   * elementwise and reduction kernels: 'wasm' (default) WebAssembly SIMD where a kernel has a
   * rendering, 'js' the generated JavaScript only (also LILY_LOOPS=js when this is not given)
   */
  loops?: LoopsEngine;
  /**
   * threads for the wasm loops kernels on the OpenBLAS path: 2 runs the big ones' rows half on a
   * worker (wasm-loops-threads.ts; the block then lives in a shared memory), 1 keeps them on the
   * calling thread; default LILY_THREADS=1|2, else DEFAULT_LOOPS_THREADS
   */
  threads?: number;
  /** kernels moving fewer bytes than this run on one thread (default LOOPS_SPLIT_MIN_BYTES) */
  threadMinBytes?: number;
  /** worker / caller polls before sleeping (wasm-loops-threads.ts; for measurements) */
  threadSpin?: { worker?: number; caller?: number };
}

/** threads for the loops kernels when neither the option nor LILY_THREADS says (measured: see README) */
export const DEFAULT_LOOPS_THREADS = 2;
/** the least Kernel.bytes worth a handoff to the worker (measured: bench/step-profile.ts --threads-ab) */
export const LOOPS_SPLIT_MIN_BYTES = 1 << 18;

/** the loops threads asked for: the option, else LILY_THREADS, else the default (1 or 2) */
export function loopsThreads(option?: number): number {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.LILY_THREADS;
  const n = option ?? (env ? Number(env) : DEFAULT_LOOPS_THREADS);
  return n >= 2 ? 2 : 1;
}

/** Whether an executable runs its loops kernels on a worker too: wasm loops on the OpenBLAS path, two threads asked for. */
function loopsWorkerWanted(options: CpuBackendOptions, nativeGemm: boolean): boolean {
  const useWasm = loopsEngine(options.loops) === 'wasm' && typeof WebAssembly === 'object';
  return useWasm && nativeGemm && loopsThreads(options.threads) === 2 && typeof SharedArrayBuffer === 'function';
}

/** What runs a CPU executable's GEMMs. */
export type CpuGemmKind = 'openblas' | 'wasm' | 'loops';

const ALIGN = 16; // floats: 64-byte aligned regions
const PAGE = 65536;
const MAX_PAGES = 65536; // wasm32: 4 GiB
const NO_ARGS: Readonly<Record<string, number>> = Object.freeze({});

/**
 * The fast CPU backend (Node): kernels generated as JavaScript loops, matrix products as a generated
 * WebAssembly SIMD GEMM on two threads.
 */
export function cpuBackend(options: CpuBackendOptions = {}): Backend {
  // the SVD initialisers' bidiagonalisation (PiSSA, MiLoRA, LoRA-XS: at lower, before prepare) takes
  // the second core as the loops kernels do, with the same bits either way (bidiagonal-threads.ts)
  if (loopsThreads(options.threads) === 2 && typeof SharedArrayBuffer === 'function') installRowPassThreads();
  else setRowPassHelper(null);
  return {
    name: 'cpu',
    async available() {
      if (options.blas === 'native') {
        const native = loadNativeBlas();
        if (!native.ok) return { ok: false, reason: `native BLAS: ${native.reason}` };
      }
      return { ok: true }; // plain JS always runs; without wasm SIMD, prepare() falls back to loops
    },
    async prepare(plan: KernelPlan, timings?: Timings): Promise<Executable> {
      let engine: WasmGemm | null = null;
      const blas = options.blas ?? 'auto';
      if (options.gemm !== false && blas !== 'wasm') {
        const native = timed(timings, 'prepare/gemm setup', () => loadNativeBlas());
        if (native.ok) {
          // the loops worker's thread started first: it boots while the kernels are generated, and
          // takes its share of the big loops kernels once it is up (prepare does not wait for it: until
          // then they run whole on the calling thread, with the same results — wasm-loops-threads.ts)
          const worker = loopsWorkerWanted(options, true) ? timed(timings, 'prepare/worker start', startLoopsWorker) : undefined;
          let exe: CpuExecutable;
          try {
            exe = new CpuExecutable(plan, null, options, native.blas.gemm, native.blas.gemmBatch, timings, worker);
          } catch (e) {
            void worker?.terminate().catch(() => 0);
            throw e;
          }
          return exe;
        }
        if (blas === 'native') throw new Error(`cpu backend: native BLAS unavailable: ${native.reason}`);
      }
      if (options.gemm !== false) {
        try {
          engine = options.engine ?? cpuGemmEngine();
          await (timings ? timings.timeAsync('prepare/gemm setup', () => engine!.ready()) : engine.ready());
        } catch {
          engine = null; // no wasm SIMD here: loops only
        }
      }
      return new CpuExecutable(plan, engine, options, undefined, undefined, timings);
    },
  };
}

export class CpuExecutable implements Executable {
  readonly backend = 'cpu';
  /** B[id]: the array of buffer id (swapped by assign) */
  readonly B: Float32Array[];
  readonly S: Float32Array[];
  readonly kernels: CpuExecKernel[];
  private readonly plan: KernelPlan;
  private readonly arena: CpuArena | null;
  private block: Float32Array | null = null;
  private disposed = false;
  private readonly leafOf = new Set<BufferId>();
  private readonly outputNames = new Map<BufferId, number>();
  /** after assign() swapped output → leaf, read(output) reads the leaf (until the next run) */
  // (typed arrays, not a Map: Map.clear() allocates a new table, and a step must allocate nothing)
  private readonly readAlias: Int32Array;
  private readonly aliasOf = (id: BufferId) => (this.readAlias[id]! >= 0 ? this.readAlias[id]! : id);
  private ran = false;
  /** what runs this executable's GEMMs */
  readonly gemmKind: CpuGemmKind;
  /** bytes of the one block holding every buffer and scratch (allocated at prepare) */
  readonly bytes: number;
  /** kernels running as WebAssembly */
  readonly wasmKernels: number = 0;
  /** pack / epilogue passes of GEMM kernels running as WebAssembly */
  readonly wasmPasses: number = 0;
  /** ms spent rendering, compiling and instantiating the wasm loops module (0 when none) */
  readonly wasmCompileMs: number = 0;
  /** the worker of the loops kernels (null: one thread) */
  private loopsWorker: LoopsThreads | null = null;
  /** resolves when the loops worker takes jobs, or could not start (prepare() does not wait for it) */
  threadsReady: Promise<void> = Promise.resolve();
  /** threads running the big loops kernels now (2 once the worker is up) */
  get loopsThreads(): number {
    return this.loopsWorker?.threads ?? 1;
  }
  /** loops kernels run on both threads so far */
  get loopsSplits(): number {
    return this.loopsWorker?.splits ?? 0;
  }
  /** chunks of loops kernels the worker has run so far */
  get loopsWorkerChunks(): number {
    return this.loopsWorker?.workerChunks ?? 0;
  }
  /** resolves when the loops worker has ended (after dispose(); at once when there is none) */
  get loopsWorkerExited(): Promise<void> {
    return this.loopsWorker?.exited ?? Promise.resolve();
  }

  /**
   * `nativeGemm`: OpenBLAS (buffers in a WebAssembly.Memory of this executable's own, or a plain
   * array with JS loops); else `engine`'s wasm gemm (buffers in its memory), or loops only.
   * `timings`: the parts of the work, as 'prepare/<part>'. `worker`: the loops worker, started
   * ahead (startLoopsWorker; terminated here when no wasm kernel needs it); undefined: started here.
   */
  constructor(plan: KernelPlan, engine: WasmGemm | null, options: CpuBackendOptions, nativeGemm?: GemmFn, nativeBatch?: GemmBatchFn, timings?: Timings, worker?: LoopsWorker | null) {
    this.plan = plan;
    this.drawThreads = loopsThreads(options.threads);
    // the worker that draws initial values with this thread starts now, ready by load() (after prepare)
    startDrawWorker([...plan.leaves.values()].filter((id) => plan.buffers[id]!.size >= THREAD_MIN_VALUES).length, this.drawThreads);
    const { gemm: _useGemm, engine: _engine, blas: _blas, loops: _loops, threads: _threads, threadMinBytes: _tmb, threadSpin: _ts, ...rest } = options;
    const kopts: CpuKernelOptions = { ...rest };
    if (nativeGemm) {
      kopts.gemm = nativeGemm;
      kopts.gemmBatch = nativeBatch;
    }
    else if (engine) kopts.gemm = (a, b, out, M, K, N, o) => engine.gemm(a, b, out, M, K, N, o);
    else kopts.strategy = 'loops';
    this.gemmKind = nativeGemm ? 'openblas' : engine ? 'wasm' : 'loops';
    const useWasm = loopsEngine(options.loops) === 'wasm' && typeof WebAssembly === 'object';
    const passes: WasmPass[] = [];
    if (useWasm) kopts.wrapPass = passCollector(passes);
    const compiled = timed(timings, 'prepare/kernels', () => compileCpuKernels(plan.kernels, kopts));
    this.kernels = compiled;
    this.arena = engine ? arenaOf(engine) : null;
    // the wasm loops module is rendered before the layout: it sizes the buffer table
    let wasm: WasmLoopsPlan | null = null;
    // a worker for the loops kernels on the OpenBLAS path (the wasm gemm's memory has its own workers)
    const threaded = loopsWorkerWanted(options, !!nativeGemm);
    if (useWasm) {
      const shared = this.arena !== null || threaded;
      const memImport = shared ? { module: 'env', name: 'mem', minPages: 0, maxPages: MAX_PAGES, shared: true } : { module: 'env', name: 'mem', minPages: 0 };
      wasm = timed(timings, 'prepare/wasm render', () => planWasmLoops(plan, compiled, passes, memImport));
      if (!wasm.module.kernels.some((k) => 'bufs' in k)) wasm = null;
    }

    // ---- storage: which buffers share a region ----
    for (const id of plan.leaves.values()) this.leafOf.add(id);
    for (const id of plan.outputs.values()) this.outputNames.set(id, (this.outputNames.get(id) ?? 0) + 1);
    const region = new Map<BufferId, string>(); // buffer -> region key
    const regionSize = new Map<string, number>();
    const use = (id: BufferId, key: string, n: number) => {
      region.set(id, key);
      regionSize.set(key, Math.max(regionSize.get(key) ?? 0, n));
    };
    for (const b of plan.buffers) {
      const slot = plan.slots.get(b.id);
      const shared = b.kind === 'temp' && slot !== undefined && !this.outputNames.has(b.id) && !this.leafOf.has(b.id);
      use(b.id, shared ? `slot${slot}` : `buf${b.id}`, shared ? Math.max(b.size, plan.slotSizes[slot!] ?? 0) : b.size);
    }
    for (const k of plan.kernels) {
      const r = region.get(k.out);
      if (r?.startsWith('slot') && k.inputs.some((i) => i !== k.out && region.get(i) === r)) use(k.out, `own${k.out}`, plan.buffers[k.out]!.size);
    }
    const scratch = [0, 1, 2].map((i) => Math.max(0, ...this.kernels.map((k) => k.scratch[i]!)));

    // ---- one block: every region and the scratch, 64-byte aligned ----
    const offsets = new Map<string, number>();
    let total = 0;
    const place = (n: number) => {
      const at = total;
      total += Math.ceil(n / ALIGN) * ALIGN;
      return at;
    };
    for (const [key, n] of regionSize) offsets.set(key, place(n));
    const scratchAt = scratch.map((n) => place(n));
    const tableAt = wasm ? place(wasm.tableSlots) : 0;
    const argsAt = wasm ? place(plan.args.length) : 0;
    const ctrlAt = wasm && threaded ? place(CTRL_WORDS) : 0;
    let block: Float32Array;
    let memory: WebAssembly.Memory | null = null;
    try {
      if (this.arena) {
        block = this.arena.acquire(total);
        this.block = block;
        memory = engine!.memory;
        // A reused arena block holds an earlier plan's values; a new array is zero already (and
        // filling it again would touch every page at prepare: ~0.3 s for a whole model's 0.8 GB).
        block.fill(0, 0, total);
      } else if (wasm) {
        const pages = Math.max(1, Math.ceil((total * 4) / PAGE));
        if (pages > MAX_PAGES) throw new RangeError('more than 4 GiB');
        memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: threaded });
        block = new Float32Array(memory.buffer, 0, total);
      } else block = new Float32Array(total);
    } catch {
      block = new Float32Array(total); // wasm memory exhausted: plain arrays (gemm copies operands, JS loops)
      memory = null;
    }
    this.bytes = total * 4;
    this.B = [];
    for (const b of plan.buffers) {
      const at = offsets.get(region.get(b.id)!)!;
      this.B[b.id] = block.subarray(at, at + b.size);
    }
    this.S = scratch.map((n, i) => block.subarray(scratchAt[i]!, scratchAt[i]! + n));
    this.readAlias = new Int32Array(this.B.length).fill(-1);
    if (wasm && memory) {
      const t0 = performance.now();
      try {
        const mem = memory;
        const splitting: LoopsSplitting | undefined = threaded
          ? {
              minBytes: options.threadMinBytes ?? LOOPS_SPLIT_MIN_BYTES,
              start: (module, names) => {
                const t = new LoopsThreads(module, mem, names, block.byteOffset + 4 * ctrlAt, { workerSpin: options.threadSpin?.worker, callerSpin: options.threadSpin?.caller, worker });
                this.loopsWorker = t;
                this.threadsReady = t.ready.then(() => undefined);
                return t;
              },
            }
          : undefined;
        const w = wasm;
        this.kernels = timed(timings, 'prepare/wasm compile', () => attachWasmLoops(w, plan, compiled, passes, mem, block, tableAt, argsAt, splitting));
      } catch (e) {
        // an engine without 128-bit SIMD rejects the module: the JS kernels run (nothing was swapped yet)
        if (!(e instanceof WebAssembly.CompileError)) throw e;
      }
      this.wasmKernels = this.kernels.filter((k) => k.wasm).length;
      this.wasmPasses = passes.filter((p) => p.fn !== p.js).length;
      this.wasmCompileMs = wasm.renderMs + performance.now() - t0;
    }
    // the JavaScript of what does not run as WebAssembly (kernels, GEMM passes), made now as prepare's
    // work (compileCpuKernels leaves every form to be made on first use)
    timed(timings, 'prepare/kernels', () => {
      for (const k of this.kernels) if (!k.wasm && (k.strategy === 'loops' || !useWasm)) k.ready();
      for (const p of passes) if (p.fn === p.js) p.ready();
    });
    if (worker && !this.loopsWorker) void worker.terminate().catch(() => 0); // started ahead, not needed after all
    // constant leaves of a fusion plan (eye, one-hot) are set here, once
    const consts = (plan as KernelPlan & { constants?: Map<string, ArrayLike<number>> }).constants;
    if (consts) for (const [name, data] of consts) if (plan.leaves.has(name)) this.B[plan.leaves.get(name)!]!.set(data), this.setAtPrepare.add(name);
  }

  private check(): void {
    if (this.disposed) throw new Error('cpu executable: used after dispose()');
  }

  /** threads drawing initial values into shared buffers (load): as many as the loops kernels may use */
  private readonly drawThreads: number;

  /** Initial values into their leaves, drawn straight in where not drawn yet, on two threads where the block is shared (draw-threads.ts). */
  async load(values: [name: string, value: Tensor][]): Promise<void> {
    this.check();
    // a new block holds zeros: a leaf nothing has written yet needs no zeros written (nor its pages touched now)
    const zero = this.leavesZero;
    this.leavesZero = false;
    const todo = values.filter(([name, t]) => !(zero && pendingZeros(t) && !this.setAtPrepare.has(name)));
    this.zerosNotWritten = values.length - todo.length;
    await loadFloat32(todo.map(([name, t]) => [t, this.leaf(name)]), this.drawThreads);
  }

  /** true until a leaf may have been written (set, run, assign, load, host access): they all hold the new block's zeros */
  private leavesZero = true;
  /** leaves prepare wrote (a fusion plan's constants) */
  private readonly setAtPrepare = new Set<string>();
  /** leaves load() found holding their zeros already (for tests) */
  zerosNotWritten = 0;

  private leaf(name: string): Float32Array {
    const id = this.plan.leaves.get(name);
    if (id === undefined) throw new Error(`cpu executable: no leaf named ${name}`);
    return this.B[id]!;
  }

  async set(name: string, data: Float32Array): Promise<void> {
    this.check();
    this.leavesZero = false;
    const id = this.plan.leaves.get(name);
    if (id === undefined) throw new Error(`cpu executable: no leaf named ${name}`);
    const dst = this.B[id]!;
    if (data.length !== dst.length) throw new Error(`cpu executable: ${name} needs ${dst.length} elements, got ${data.length}`);
    dst.set(data);
  }

  /** Run every kernel once, synchronously (run() wraps this). */
  runSync(args: Readonly<Record<string, number>> = {}): void {
    this.check();
    // indexed loops: run once per step, this may stay in V8's interpreter, where for-of allocates
    const names = this.plan.args, kernels = this.kernels;
    for (let i = 0; i < names.length; i++) {
      if (typeof args[names[i]!] !== 'number') throw new Error(`cpu executable: missing run-time argument ${names[i]}`);
    }
    const { B, S } = this;
    this.leavesZero = false;
    this.readAlias.fill(-1);
    for (let i = 0; i < kernels.length; i++) kernels[i]!.run(B, args, S);
    this.ran = true;
  }

  async run(args: Record<string, number> = {}): Promise<void> {
    this.runSync(args);
  }

  readonly host: HostAccess = {
    leaf: (name) => {
      this.leavesZero = false; // the caller may write it
      return this.leaf(name);
    },
    output: (name) => {
      const id = this.plan.outputs.get(name);
      if (id === undefined) throw new Error(`cpu executable: no output named ${name}`);
      if (!this.ran) throw new Error(`cpu executable: '${name}' has not been computed yet (call run())`);
      return this.B[this.aliasOf(id)]!;
    },
    run: () => this.runSync(NO_ARGS),
    assigner: (pairs) => this.assigner(pairs),
  };

  async read(name: string): Promise<Float32Array> {
    this.check();
    const leaf = this.plan.leaves.get(name);
    const id = leaf ?? this.plan.outputs.get(name);
    if (id === undefined) throw new Error(`cpu executable: no output or leaf named ${name}`);
    if (leaf === undefined && !this.ran) throw new Error(`cpu executable: '${name}' has not been computed yet (call run())`);
    return this.B[this.aliasOf(id)]!.slice();
  }

  /**
   * Leaves take the outputs' values, all at once (sources are read before any leaf changes).
   * Arrays are swapped where that is safe (a private output named once: no copy; read(output)
   * then reads the leaf until the next run), copied otherwise.
   */
  async assign(pairs: [from: string, to: string][]): Promise<void> {
    this.assigner(pairs)();
  }

  /** assign(pairs) with the names resolved and the snapshot arrays allocated once; each call allocates nothing. */
  assigner(pairs: [from: string, to: string][]): () => void {
    this.check();
    this.leavesZero = false;
    const ids = pairs.map(([from, to]) => {
      const f = this.plan.outputs.get(from);
      const t = this.plan.leaves.get(to);
      if (f === undefined) throw new Error(`cpu executable: no output named ${from}`);
      if (t === undefined) throw new Error(`cpu executable: no leaf named ${to}`);
      const n = this.B[f]!.length, m = this.B[t]!.length;
      if (n !== m) throw new Error(`cpu executable: cannot assign ${from} (${n} elements) to ${to} (${m})`);
      return [f, t] as const;
    });
    // an output that is itself a leaf may be overwritten by an earlier pair: it is snapshot first
    const targets = new Set(ids.map(([, t]) => t));
    const snapshot = ids.map(([f]) => (this.leafOf.has(f) && targets.has(f) ? new Float32Array(this.B[f]!.length) : null));
    const src: Float32Array[] = ids.map(() => this.B[0]!);
    const swapped = new Uint8Array(this.B.length);
    return () => {
      this.check();
      if (!this.ran && ids.length) throw new Error(`cpu executable: '${pairs[0]![0]}' has not been computed yet (call run())`);
      for (let i = 0; i < ids.length; i++) {
        const f = ids[i]![0], snap = snapshot[i];
        if (snap) snap.set(this.B[f]!);
        src[i] = snap ?? this.B[this.aliasOf(f)]!;
      }
      swapped.fill(0);
      for (let i = 0; i < ids.length; i++) {
        const f = ids[i]![0], t = ids[i]![1]; // not destructured: in V8's interpreter that allocates an iterator
        if (f === t) continue;
        const swappable = !this.leafOf.has(f) && this.outputNames.get(f) === 1 && !swapped[f] && this.readAlias[f]! < 0;
        if (swappable) {
          const old = this.B[t]!;
          this.B[t] = this.B[f]!;
          this.B[f] = old;
          this.readAlias[f] = t;
          swapped[f] = 1;
        } else this.B[t]!.set(src[i]!);
      }
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.loopsWorker?.close();
    if (this.arena && this.block) this.arena.release(this.block);
    this.block = null;
  }
}
