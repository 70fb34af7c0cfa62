// The CPU executable's WebAssembly loops (wasm-loops.ts renders them): one module per plan holding
// every 'loops' kernel and every GEMM pass (pack, epilogue) that has a wasm rendering, compiled once
// at prepare, instantiated on the memory that holds the executable's block of buffers; each such
// kernel's run() is replaced by a call of its export, each pass's trampoline pointed at its export. The kernel's buffers are looked up at every call (assign() swaps arrays) and
// their byte addresses written into the kernel's slice of a small i32 table inside the memory; the
// run-time scalars go to an f32 argument area beside it. A buffer found outside the block (never in
// the executable's own use) makes that call run the JavaScript kernel instead.
import { coefMap, rowMajor } from '../../compiler/codegen/cpu-kexpr.ts';
import type { CompiledCpuKernel, KernelFn } from '../../compiler/codegen/cpu.ts';
import { renamedFrom } from '../../compiler/codegen/cpu-share.ts';
import { exprArgs, type Kernel, type KernelPlan, type KExpr } from '../../compiler/fuse/kernel-ir.ts';
import type { MemoryImport } from './wasm-emit.ts';
import { buildWasmLoops, type WasmLoopsModule } from './wasm-loops-module.ts';

/** A compiled CPU kernel; `wasm` when run() calls its WebAssembly rendering. */
export type CpuExecKernel = CompiledCpuKernel & { readonly wasm?: boolean };

export type LoopsEngine = 'wasm' | 'js';

/** the loops engine asked for: the option, else LILY_LOOPS=js|wasm, else wasm */
export function loopsEngine(option?: LoopsEngine): LoopsEngine {
  if (option) return option;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.LILY_LOOPS;
  return env === 'js' ? 'js' : 'wasm';
}

/** a pack or epilogue pass of a GEMM kernel, run through a trampoline (CpuKernelOptions.wrapPass) */
export interface WasmPass {
  kernel: Kernel;
  /** its JavaScript, made on first call */
  js: KernelFn;
  /** makes the JavaScript now */
  ready: () => unknown;
  /** what the trampoline calls: js, until attachWasmLoops points it at the wasm rendering */
  fn: KernelFn;
}

/** CpuKernelOptions.wrapPass collecting the passes into `passes` */
export function passCollector(passes: WasmPass[]): (k: Kernel, js: KernelFn, ready: () => unknown) => KernelFn {
  return (kernel, js, ready) => {
    const p: WasmPass = { kernel, js, ready, fn: js };
    passes.push(p);
    return (B, args, S) => p.fn(B, args, S);
  };
}

/**
 * Whether a kernel may run as row ranges on two threads at once: it writes each output element once
 * at its row-major position (every rendering does), so the rows' outputs are disjoint; what remains is
 * a kernel reading its own output buffer, safe only where it reads exactly the element it writes.
 */
export function rowSeparable(k: Kernel): boolean {
  return readsOwnElementOnly(k.body, k.out, coefMap(rowMajor(k.loops)));
}

// (not closures per call: under tsx every named closure is an Object.defineProperty — esbuild's keepNames)
function readsOwnElementOnly(e: KExpr, out: number, store: Map<string, number>): boolean {
  switch (e.k) {
    case 'load': {
      if (e.buf !== out) return true;
      const m = coefMap(e.at);
      if (e.at.offset !== 0 || m.size !== store.size) return false;
      for (const [v, c] of m) if (store.get(v) !== c) return false;
      return true;
    }
    case 'unary':
    case 'unaryGrad':
      return readsOwnElementOnly(e.a, out, store);
    case 'bin':
      return readsOwnElementOnly(e.a, out, store) && readsOwnElementOnly(e.b, out, store);
    case 'reduce':
      return readsOwnElementOnly(e.body, out, store);
    default:
      return true;
  }
}

/** What splits a kernel's rows over two threads (wasm-loops-threads.ts, Node-only). */
export interface LoopsSplitter {
  /** rows [0, n) of export fnIdx (fn: that export on this thread), on both threads when it can */
  run(fnIdx: number, fn: (lo: number, hi: number, tab: number, argp: number) => void, n: number, tab: number, argp: number): void;
  /** prepare the split of n rows ahead (run() then allocates nothing for it) */
  rows(n: number): unknown;
}

export interface LoopsSplitting {
  /** the splitter for this instance's module and export names (null: one thread) */
  start(module: WebAssembly.Module, names: readonly string[]): LoopsSplitter | null;
  /** kernels moving fewer bytes (Kernel.bytes) than this run whole on the calling thread */
  minBytes: number;
}

export interface WasmLoopsPlan {
  module: WasmLoopsModule;
  /** i32 slots of the buffer table */
  tableSlots: number;
  /** ms spent rendering the module's bytes */
  renderMs: number;
}

/**
 * Render the wasm module of a plan's loops kernels and GEMM passes (before the memory is laid out:
 * it sizes the table). Module entries: the kernels in order, then the passes.
 */
export function planWasmLoops(plan: KernelPlan, kernels: readonly CompiledCpuKernel[], passes: readonly WasmPass[], memory: MemoryImport): WasmLoopsPlan {
  const t0 = performance.now();
  const list = [...kernels.map((k) => (k.strategy === 'loops' ? k.kernel : null)), ...passes.map((p) => p.kernel)];
  const module = buildWasmLoops(list, plan.args, memory, renamedFrom);
  let tableSlots = 0;
  for (const k of module.kernels) if ('bufs' in k) tableSlots += k.bufs.length;
  return { module, tableSlots, renderMs: performance.now() - t0 };
}

/**
 * Instantiate on `memory` (holding `block`), point the passes at their wasm renderings and return
 * the kernels with a wasm run() where rendered. tableAt / argsAt: float offsets in `block` of the
 * table (tableSlots i32) and the argument area.
 */
export function attachWasmLoops(
  p: WasmLoopsPlan, plan: KernelPlan, kernels: readonly CompiledCpuKernel[], passes: readonly WasmPass[],
  memory: WebAssembly.Memory, block: Float32Array, tableAt: number, argsAt: number, splitting?: LoopsSplitting,
): CpuExecKernel[] {
  const mod = new WebAssembly.Module(p.module.bytes);
  const inst = new WebAssembly.Instance(mod, { env: { mem: memory } });
  const ex = inst.exports as Record<string, (lo: number, hi: number, tab: number, argp: number) => void>;
  const exportNames = [...new Set(p.module.kernels.flatMap((k) => ('name' in k ? [k.name] : [])))];
  const splitter = splitting?.start(mod, exportNames) ?? null;
  const blockBuf = block.buffer;
  const table = new Int32Array(blockBuf, block.byteOffset + 4 * tableAt, p.tableSlots);
  const argArea = block.subarray(argsAt, argsAt + plan.args.length);
  const argsByte = argArea.byteOffset;
  let slot = 0;
  /** the wasm runner of module entry i (js: the fallback for buffers outside the block), or null */
  const runner = (i: number, k: Kernel, js: KernelFn): KernelFn | null => {
    const r = p.module.kernels[i]!;
    if (!('bufs' in r)) return null;
    const fn = ex[r.name]!;
    const ids = Int32Array.from(r.bufs);
    const base = slot;
    slot += ids.length;
    const tabByte = table.byteOffset + 4 * base;
    const names = [...exprArgs(k.body, new Set())];
    const argIdx = Int32Array.from(names, (n) => plan.args.indexOf(n));
    const hi = k.loops[0]?.extent ?? 1;
    const split = splitter && hi >= 2 && k.bytes >= splitting!.minBytes && rowSeparable(k) ? splitter : null;
    split?.rows(hi);
    const fnIdx = exportNames.indexOf(r.name);
    return (B, args, S) => {
      for (let j = 0; j < ids.length; j++) {
        const id = ids[j]!;
        const a = id >= 0 ? B[id]! : S[-id - 1]!;
        if (a.buffer !== blockBuf) return js(B, args, S);
        table[base + j] = a.byteOffset;
      }
      for (let j = 0; j < argIdx.length; j++) argArea[argIdx[j]!] = args[names[j]!]!;
      if (split) split.run(fnIdx, fn, hi, tabByte, argsByte);
      else fn(0, hi, tabByte, argsByte);
    };
  };
  const out = kernels.map((js, i): CpuExecKernel => {
    const wasmRun = runner(i, js.kernel, (B, args, S) => js.run(B, args, S));
    if (!wasmRun) return js;
    // not a spread of js: that would make its JavaScript (source is made on first read); methods, not
    // named arrows (under tsx each of those is an Object.defineProperty call, esbuild's keepNames)
    return {
      kernel: js.kernel, strategy: js.strategy, gemm: js.gemm, scratch: js.scratch,
      get source() {
        return js.source;
      },
      ready() {
        js.ready();
      },
      run(B, args = NO_ARGS, S = NO_SCRATCH) {
        wasmRun(B, args, S);
      },
      wasm: true,
    };
  });
  passes.forEach((ps, j) => {
    const run = runner(kernels.length + j, ps.kernel, ps.js);
    if (run) ps.fn = run;
  });
  return out;
}

const NO_ARGS: Readonly<Record<string, number>> = Object.freeze({});
const NO_SCRATCH: readonly Float32Array[] = Object.freeze([]) as readonly Float32Array[];
