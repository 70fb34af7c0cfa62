// The fast CPU renderer: a Kernel becomes either generated JavaScript loops (cpu-loops.ts) or, when
// it contains a contraction that maps onto a row-major GEMM, a call of the WebAssembly SIMD gemm
// (runtime/backends/cpu-gemm.ts) followed by a generated epilogue pass over the output.
//
// GEMM recognition and lowering: cpu-gemm-match.ts (its header says how); the measured cost model
// that picks the orientation and gemm vs loops: cpu-cost.ts.
//
// Browser-safe: the gemm itself is passed in (`opts.gemm`: the WebAssembly engine of
// runtime/backends/cpu-gemm.ts, which runs worker threads, or OpenBLAS), so nothing here reaches Node.
import type { GemmOptions } from '../../runtime/backends/cpu-gemm.ts';
import type { Kernel } from '../fuse/kernel-ir.ts';
import { type GemmMatch, matchGemm } from './cpu-gemm-match.ts';
import { instantiate, type KernelFn, type KernelForm, renderKernel, renderScalar, type ScalarFn } from './cpu-loops.ts';

export { GEMM_COST } from './cpu-cost.ts';
export { type GemmMatch, type GemmOperand, type GemmVar, matchGemm, SCRATCH_C, SCRATCH_L, SCRATCH_R } from './cpu-gemm-match.ts';
export { clearKernelFactories, renderKernel, renderKernelSource, renderScalarSource, compileLoops, kernelFactoriesCompiled, type KernelFn, type KernelForm } from './cpu-loops.ts';

export type CpuStrategy = 'gemm' | 'gemm-packed' | 'loops';

export type GemmFn = (a: Float32Array, b: Float32Array, out: Float32Array, M: number, K: number, N: number, opts?: GemmOptions) => void;
/**
 * GemmFn over a batch: one product per (a, b, c) element-offset triple in `offsets`, with every
 * scalar in `params` (gemmParams), so a call reads no object fields and boxes no numbers.
 */
export type GemmBatchFn = (
  a: Float32Array, b: Float32Array, out: Float32Array, params: Float64Array, offsets: Int32Array,
  /** [count, (offset, rowStride, colStride) per term]: C = t0 + t1 + … before the product (one batch; beta 1) */
  prefill?: Float64Array, t0?: Float32Array, t1?: Float32Array, t2?: Float32Array, t3?: Float32Array,
) => void;

/** The scalars of a row-major gemm as a GemmBatchFn takes them: [transA, transB, M, N, K, alpha, lda, ldb, beta, ldc]. */
export function gemmParams(M: number, K: number, N: number, o: GemmOptions = {}, into = new Float64Array(10)): Float64Array {
  into[0] = o.transA ? 1 : 0;
  into[1] = o.transB ? 1 : 0;
  into[2] = M;
  into[3] = N;
  into[4] = K;
  into[5] = o.alpha ?? 1;
  // leading dimensions are at least 1 even for empty matrices (BLAS rejects 0)
  into[6] = Math.max(1, o.transA ? M : K);
  into[7] = Math.max(1, o.transB ? K : N);
  into[8] = o.accumulate ? 1 : 0;
  into[9] = Math.max(1, N);
  return into;
}

export interface CpuKernelOptions {
  /**
   * 'auto' (default): gemm when the kernel has a GEMM core and the cost model (GEMM_COST) says
   * gemm beats the generated loops; 'loops' / 'gemm': force (gemm only where there is a core).
   */
  strategy?: 'auto' | 'loops' | 'gemm';
  /**
   * The gemm to call; required when a kernel runs as a GEMM (else compileCpuKernel throws): e.g.
   * runtime/backends/cpu-gemm.ts's `gemm`, or native-blas.ts's. Without one, pass strategy 'loops'.
   */
  gemm?: GemmFn;
  /** a batched gemm (OpenBLAS): a kernel's batch of products in one call, instead of gemm per batch */
  gemmBatch?: GemmBatchFn;
  /**
   * Given each generated loops pass of a GEMM kernel (pack, epilogue), its JS function (made on first
   * call) and what makes that function now, returns the function run() calls: the CPU executable
   * passes a trampoline that it later points at the pass's WebAssembly rendering. Default: the JS function.
   */
  wrapPass?: (pass: Kernel, js: KernelFn, ready: () => unknown) => KernelFn;
}

export interface CompiledCpuKernel {
  readonly kernel: Kernel;
  readonly strategy: CpuStrategy;
  /** the GEMM lowering when strategy is gemm / gemm-packed */
  readonly gemm: GemmMatch | null;
  /**
   * generated JS (loops, or pack / alpha / epilogue passes around the gemm call): each pass's
   * factory source (shared by kernels of the same form) under a comment naming its buffers
   */
  readonly source: string;
  /** scratch arrays run() needs, in elements: S[0] packed L, S[1] packed R, S[2] C */
  readonly scratch: readonly [number, number, number];
  /**
   * Make the generated JS now (render and compile it); run() and `source` make it on first use
   * otherwise — the CPU executable never makes it for a kernel it runs as WebAssembly.
   */
  ready(): void;
  /**
   * Compute the kernel. B[id]: the Float32Array of each buffer (read at every call, so buffers may
   * be swapped between calls); S: scratch arrays at least `scratch` long (allocated privately on
   * first use when omitted). GEMM operands inside the gemm engine's wasm memory are used in place.
   */
  run(B: readonly Float32Array[], args?: Readonly<Record<string, number>>, S?: readonly Float32Array[]): void;
}

/** How compileCpuKernel would run k. */
export function strategyOf(k: Kernel, opts: CpuKernelOptions = {}): CpuStrategy {
  const m = opts.strategy === 'loops' ? null : matchGemm(k, { strided: !!opts.gemmBatch });
  return pick(m, opts);
}

function pick(m: GemmMatch | null, opts: CpuKernelOptions): CpuStrategy {
  if (!m || opts.strategy === 'loops') return 'loops';
  if (opts.strategy !== 'gemm' && !(m.cost < m.loopsCost)) return 'loops';
  return m.L.direct && m.R.direct && m.cDirect ? 'gemm' : 'gemm-packed';
}

const NO_ARGS: Readonly<Record<string, number>> = Object.freeze({});
/** the view cache of a kernel that never makes views (a batched gemm takes offsets) */
const NO_VIEWS = new WeakMap<Float32Array, Float32Array[]>();

/** A value made on first use and kept. */
export type Lazy<T> = () => T;
export function lazy<T>(make: () => T): Lazy<T> {
  let made = false;
  let v: T | undefined;
  return () => {
    if (!made) {
      v = make();
      made = true;
    }
    return v as T;
  };
}

/** a pass's source for reading: its name and buffers, then the shared factory source */
const describe = (name: string, f: KernelForm) => {
  const binds = [...f.ids.map((id, i) => `b${i} = B[${id}]`), ...(f.n ? [`n = ${f.n}`] : [])];
  return `// ${name}${binds.length ? `: ${binds.join(', ')}` : ''}\n${f.source}`;
};

/**
 * What compileCpuKernel derives from a kernel's structure, before binding it to functions: the
 * strategy, the GEMM lowering, and each generated pass's form (cpu-share.ts renames a lowering onto
 * a kernel of the same structure on other buffers instead of deriving it again). Forms are rendered
 * on first use: a kernel that runs as WebAssembly never needs its JavaScript.
 */
export interface CpuLowering {
  readonly strategy: CpuStrategy;
  readonly gemm: GemmMatch | null;
  /** strategy 'loops': the kernel's own form */
  readonly loops: Lazy<KernelForm> | null;
  /** a GEMM's passes (null where there is none) and its run-time alpha */
  readonly packL: Lazy<KernelForm> | null;
  readonly packR: Lazy<KernelForm> | null;
  readonly epilogue: Lazy<KernelForm> | null;
  readonly alpha: Lazy<KernelForm> | null;
}

/** Render kernel k for the CPU: generated loops, or gemm + generated passes. */
export function compileCpuKernel(k: Kernel, opts: CpuKernelOptions = {}): CompiledCpuKernel {
  return bindCpuKernel(k, lowerCpuKernel(k, opts), opts);
}

/** Match and render kernel k (no functions made yet). */
export function lowerCpuKernel(k: Kernel, opts: CpuKernelOptions = {}): CpuLowering {
  // the batched gemm (OpenBLAS) takes leading dimensions: strided operands and results in place
  const m = opts.strategy === 'loops' ? null : matchGemm(k, { strided: !!opts.gemmBatch });
  const strategy = pick(m, opts);
  if (strategy === 'loops' || !m) return { strategy: 'loops', gemm: null, loops: lazy(() => renderKernel(k)), packL: null, packR: null, epilogue: null, alpha: null };
  const form = (x: Kernel | null) => (x ? lazy(() => renderKernel(x)) : null);
  const a = m.alpha;
  const alpha = a && a.k !== 'const' ? lazy(() => renderScalar(a, `${k.name}:alpha`)) : null;
  return { strategy, gemm: m, loops: null, packL: form(m.packL), packR: form(m.packR), epilogue: form(m.epilogue), alpha };
}

/** The compiled kernel k of a lowering (lowerCpuKernel's, or one renamed onto k). */
// This runs for every kernel of a plan: no named closures in it (under tsx each is an
// Object.defineProperty call, esbuild's keepNames) — methods, unnamed arrows and module-level helpers.
export function bindCpuKernel(k: Kernel, low: CpuLowering, opts: CpuKernelOptions = {}): CompiledCpuKernel {
  const { strategy, gemm: m } = low;
  if (strategy === 'loops' || !m) {
    const c = low.loops!;
    let fn: KernelFn | null = null;
    let source: string | undefined;
    return {
      kernel: k, strategy: 'loops', gemm: null, scratch: NO_SCRATCH,
      get source() {
        return (source ??= describe(k.name, c()));
      },
      ready() {
        fn ??= instantiate<KernelFn>(c());
      },
      run(B, args = NO_ARGS, S) {
        (fn ??= instantiate<KernelFn>(c()))(B, args, S ?? []);
      },
    };
  }
  const g = opts.gemm;
  if (!g) throw new Error(`compileCpuKernel: kernel ${k.name} runs as a GEMM (${strategy}); pass opts.gemm, or strategy 'loops'`);
  const sources: (() => string)[] = [];
  const makers: (() => KernelFn)[] = [];
  const packL = lazyPass(m.packL, low.packL, opts, sources, makers);
  const packR = lazyPass(m.packR, low.packR, opts, sources, makers);
  const epi = lazyPass(m.epilogue, low.epilogue, opts, sources, makers);
  let alphaFn: ScalarFn | null = null;
  let alphaConst = 1;
  if (m.alpha?.k === 'const') alphaConst = m.alpha.v;
  else if (m.alpha) {
    // computed in JS at every run: made now
    const c = low.alpha!();
    sources.push(() => describe(`${k.name}:alpha`, c));
    alphaFn = instantiate<ScalarFn>(c);
  }
  let source: string | undefined;
  let own: Float32Array[] | null = null;
  const { M, N, K, L, R } = m;
  const gopts: GemmOptions = { transA: L.trans, transB: R.trans, alpha: alphaConst };
  const nb = L.offsets.length;
  const lOff = L.offsets, rOff = R.offsets, cOff = m.cOffsets;
  const gb = opts.gemmBatch;
  // subarray views per (array, batch), cached so steady-state runs allocate no views (for the gemm per
  // batch only: a batched gemm takes offsets)
  const lViews = gb ? NO_VIEWS : new WeakMap<Float32Array, Float32Array[]>();
  const rViews = gb ? NO_VIEWS : new WeakMap<Float32Array, Float32Array[]>();
  const cViews = gb ? NO_VIEWS : new WeakMap<Float32Array, Float32Array[]>();
  const cOut = m.cDirect ? k.out : null;
  const needScratch = m.scratch.some((n) => n > 0);
  // (a, b, c) element offsets per batch, for the batched gemm: filled by a loop (a flatMap made an array per batch: 2080 of them for a per-token product)
  const offsets = new Int32Array(gb ? 3 * nb : 0);
  if (gb) for (let i = 0; i < nb; i++) {
    offsets[3 * i] = lOff[i]!;
    offsets[3 * i + 1] = rOff[i]!;
    offsets[3 * i + 2] = cOff[i]!;
  }
  const params = gemmParams(M, K, N, gopts);
  // lda, ldb, ldc (the gemm per batch below only runs contiguous ones)
  params[6] = L.ld;
  params[7] = R.ld;
  params[9] = m.ldc;
  // the additive epilogue done by the native call: C = t0 + … first, then gemm with beta = 1
  const pre = m.prefill ? Float64Array.from([m.prefill.length, ...m.prefill.flatMap((t) => [t.offset, t.rowStride, t.colStride])]) : null;
  const pf = m.prefill;
  const p0 = pf?.[0]?.buf ?? -1, p1 = pf?.[1]?.buf ?? -1, p2 = pf?.[2]?.buf ?? -1, p3 = pf?.[3]?.buf ?? -1;
  if (pre) params[8] = 1;
  return {
    kernel: k, strategy, gemm: m, scratch: m.scratch,
    get source() {
      return (source ??= sources.map((f) => f()).join('\n'));
    },
    ready() {
      for (const f of makers) f();
    },
    run(B, args = NO_ARGS, S0) {
      const S = needScratch ? (S0 ?? (own ??= m.scratch.map((n) => new Float32Array(n)))) : (S0 ?? []);
      if (packL) packL(B, args, S);
      if (packR) packR(B, args, S);
      const a = L.direct ? B[L.buf]! : S[0]!;
      const b = R.direct ? B[R.buf]! : S[1]!;
      const c = cOut !== null ? B[cOut]! : S[2]!;
      if (alphaFn) gopts.alpha = params[5] = alphaFn(B, args, S);
      if (pre) gb!(a, b, c, params, offsets, pre, B[p0], p1 >= 0 ? B[p1] : undefined, p2 >= 0 ? B[p2] : undefined, p3 >= 0 ? B[p3] : undefined);
      else if (gb) gb(a, b, c, params, offsets);
      else for (let i = 0; i < nb; i++) g(viewIn(lViews, a, lOff, i), viewIn(rViews, b, rOff, i), viewIn(cViews, c, cOff, i), M, K, N, gopts);
      if (epi) epi(B, args, S);
    },
  };
}

/** scratch sizes of a kernel without a GEMM */
const NO_SCRATCH = Object.freeze([0, 0, 0] as const);

/** subarray view of batch i (cached per array) */
function viewIn(cache: WeakMap<Float32Array, Float32Array[]>, a: Float32Array, offs: number[], i: number): Float32Array {
  if (offs.length === 1 && offs[0] === 0) return a;
  let vs = cache.get(a);
  if (!vs) {
    vs = offs.map((o) => a.subarray(o));
    cache.set(a, vs);
  }
  return vs[i]!;
}

/**
 * The function run() calls for pass x of a GEMM kernel (null: no such pass): its JavaScript, made on
 * first call (or by `makers`), through opts.wrapPass; its readable source into `sources`.
 */
function lazyPass(x: Kernel | null, c: Lazy<KernelForm> | null, opts: CpuKernelOptions, sources: (() => string)[], makers: (() => KernelFn)[]): KernelFn | null {
  if (!x || !c) return null;
  const make = lazy(() => instantiate<KernelFn>(c()));
  const js = trampoline(make);
  sources.push(() => describe(x.name, c()));
  makers.push(make);
  return opts.wrapPass ? opts.wrapPass(x, js, make) : js;
}

/** a kernel function calling make()'s */
const trampoline = (make: () => KernelFn): KernelFn => (B, args, S) => make()(B, args, S);
