// The fast CPU renderer: a Kernel becomes either generated JavaScript loops (cpu-loops.ts) or, when
// it contains a contraction that maps onto a row-major GEMM, a call of the WebAssembly SIMD gemm
// (runtime/backends/cpu-gemm.ts) followed by a generated epilogue pass over the output.
//
// GEMM recognition (matchGemm): find the core `reduce(sum, K…, f · load(L) · load(R))` (nested sum
// reduces flattened; factors f that do not depend on K are pulled out: variable-free ones, and
// variable-free scales right around the core (s·core, core/s, −core), into gemm's alpha, the others
// into the epilogue). Its free variables split into
//   batch — in both L and R        rows — only in L        cols — only in R
// and every reduce variable must be in both. Each group is fused into one index when its strides
// nest (row-major within the group); an operand is read in place when its layout is one gemm
// takes (op(A) = A or Aᵀ with leading dimension exactly K or M; the same for B), else a generated
// copy loop packs it into scratch first ('gemm-packed'). Batches are one gemm call each, on
// subarray views (a batch variable absent from R is a row variable: it folds into M). The result
// goes straight into the output when the output is [batch…, rows…, cols…] row-major, else into a
// scratch C that the epilogue reads. Which operand is L (C = L·R or Cᵀ = R·L) is decided by a
// measured cost model (GEMM_COST), and so is gemm vs loops in 'auto'. The epilogue is the kernel
// body with the core replaced by a load of C (× the pulled-out factors), rendered like any other
// kernel, in place; it is skipped when it would copy C onto itself.
import { gemm as defaultGemm, type GemmOptions } from '../../runtime/backends/cpu-gemm.ts';
import type { Affine, BufferId, Kernel, KExpr } from '../fuse/kernel-ir.ts';
import { coefMap, compileLoops, compileScalar, exprKey, freeVars, type KernelFn, rowMajor, type ScalarFn } from './cpu-loops.ts';

export { renderKernelSource, renderScalarSource, compileLoops, type KernelFn } from './cpu-loops.ts';

export type CpuStrategy = 'gemm' | 'gemm-packed' | 'loops';

export type GemmFn = (a: Float32Array, b: Float32Array, out: Float32Array, M: number, K: number, N: number, opts?: GemmOptions) => void;

/** Scratch ids used by GEMM lowering: S[0] packed L, S[1] packed R, S[2] the GEMM result C. */
export const SCRATCH_L: BufferId = -1;
export const SCRATCH_R: BufferId = -2;
export const SCRATCH_C: BufferId = -3;

export interface CpuKernelOptions {
  /**
   * 'auto' (default): gemm when the kernel has a GEMM core and the cost model (GEMM_COST) says
   * gemm beats the generated loops; 'loops' / 'gemm': force (gemm only where there is a core).
   */
  strategy?: 'auto' | 'loops' | 'gemm';
  /** the gemm to call (default: cpu-gemm's process-wide engine) */
  gemm?: GemmFn;
}

export interface GemmVar {
  v: string;
  extent: number;
}
type Var = GemmVar;

export interface GemmOperand {
  buf: BufferId;
  /** read in place (true) or packed into scratch first */
  direct: boolean;
  /** gemm's transA / transB for this operand (as stored, or as packed) */
  trans: boolean;
  /** element offset of each batch's matrix in the array gemm reads */
  offsets: number[];
}

export interface GemmMatch {
  /** estimated seconds of this lowering (GEMM_COST); the cheaper orientation is chosen */
  cost: number;
  /** estimated seconds of the core as generated loops; 'auto' takes gemm when cost < loopsCost */
  loopsCost: number;
  /** the core reduce node */
  core: KExpr;
  batch: Var[];
  rows: Var[];
  cols: Var[];
  red: Var[];
  M: number;
  N: number;
  K: number;
  L: GemmOperand;
  R: GemmOperand;
  /** C is the kernel's output buffer (true) or scratch S[2] */
  cDirect: boolean;
  cOffsets: number[];
  /** variable-free factor for gemm's alpha (null: 1) */
  alpha: KExpr | null;
  /** copy loops that pack L / R into S[0] / S[1] */
  packL: Kernel | null;
  packR: Kernel | null;
  /** the pass after gemm (null: gemm's result is the kernel's output as is) */
  epilogue: Kernel | null;
  /** scratch sizes in elements: [L, R, C] */
  scratch: [number, number, number];
  /** 2·batch·M·N·K */
  flops: number;
}

const prod = (vs: readonly Var[]) => vs.reduce((p, v) => p * v.extent, 1);

/** the sum reduce with nested sum reduces flattened into one */
function flattenSum(e: KExpr & { k: 'reduce' }): { vars: Var[]; body: KExpr } {
  const vars = [...e.vars];
  let body = e.body;
  while (body.k === 'reduce' && body.op === 'sum') {
    vars.push(...body.vars);
    body = body.body;
  }
  return { vars, body };
}

/** factors of a product tree; a `neg` becomes a factor −1 */
function factors(e: KExpr, out: KExpr[] = []): KExpr[] {
  if (e.k === 'bin' && e.op === '*') {
    factors(e.a, out);
    factors(e.b, out);
  } else if (e.k === 'unary' && e.fn === 'neg') {
    out.push({ k: 'const', v: -1 });
    factors(e.a, out);
  } else out.push(e);
  return out;
}

const mul = (a: KExpr, b: KExpr): KExpr => ({ k: 'bin', op: '*', a, b });
const product = (fs: KExpr[]): KExpr | null => (fs.length === 0 ? null : fs.reduce((a, b) => mul(a, b)));

/** Unit stride of the group fused in this order (outer → inner), or null when strides do not nest. */
function fusedStride(group: readonly Var[], coef: Map<string, number>): number | null {
  if (group.length === 0) return 0;
  const unit = coef.get(group[group.length - 1]!.v) ?? 0;
  if (unit <= 0) return null;
  let expect = unit;
  for (let i = group.length - 1; i >= 0; i--) {
    if (coef.get(group[i]!.v) !== expect) return null;
    expect *= group[i]!.extent;
  }
  return unit;
}

/** order a group by decreasing stride in an operand (the natural row-major order) */
const byStride = (g: Var[], coef: Map<string, number>) => [...g].sort((a, b) => (coef.get(b.v) ?? 0) - (coef.get(a.v) ?? 0));

/** which layout gemm can read an m×k operand (row var group, reduce group) in, or null */
function layoutOf(rows: Var[], red: Var[], coef: Map<string, number>): boolean | null {
  const m = prod(rows), k = prod(red);
  const sr = fusedStride(rows, coef), sk = fusedStride(red, coef);
  if (sr === null || sk === null) return null;
  if ((m === 1 || sr === k) && (k === 1 || sk === 1)) return false; // as stored: m×k row-major
  if ((m === 1 || sr === 1) && (k === 1 || sk === m)) return true; // stored k×m: transposed
  return null;
}

interface Candidate {
  node: KExpr & { k: 'reduce' };
  /** variables bound by reduces enclosing the candidate */
  shadow: Set<string>;
}

function candidates(e: KExpr, shadow: Set<string>, out: Candidate[]): Candidate[] {
  switch (e.k) {
    case 'unary':
    case 'unaryGrad':
      candidates(e.a, shadow, out);
      break;
    case 'bin':
      candidates(e.a, shadow, out);
      candidates(e.b, shadow, out);
      break;
    case 'reduce': {
      if (e.op === 'sum') out.push({ node: e, shadow });
      const inner = new Set(shadow);
      for (const v of e.vars) inner.add(v.v);
      // the body of a flattened sum is not a separate candidate (it is part of this one)
      let body = e.body;
      while (body.k === 'reduce' && body.op === 'sum') {
        for (const v of body.vars) inner.add(v.v);
        body = body.body;
      }
      candidates(body, inner, out);
      break;
    }
  }
  return out;
}

/** replace every structural occurrence of `key` by `by` */
function substitute(e: KExpr, key: string, by: KExpr): KExpr {
  if (exprKey(e) === key) return by;
  switch (e.k) {
    case 'unary':
    case 'unaryGrad': {
      const a = substitute(e.a, key, by);
      return a === e.a ? e : { ...e, a };
    }
    case 'bin': {
      const a = substitute(e.a, key, by), b = substitute(e.b, key, by);
      return a === e.a && b === e.b ? e : { ...e, a, b };
    }
    case 'reduce': {
      const body = substitute(e.body, key, by);
      return body === e.body ? e : { ...e, body };
    }
    default:
      return e;
  }
}

function countKey(e: KExpr, key: string): number {
  if (exprKey(e) === key) return 1;
  switch (e.k) {
    case 'unary':
    case 'unaryGrad':
      return countKey(e.a, key);
    case 'bin':
      return countKey(e.a, key) + countKey(e.b, key);
    case 'reduce':
      return countKey(e.body, key);
    default:
      return 0;
  }
}

/** path root → node (by identity) */
function pathTo(e: KExpr, node: KExpr): KExpr[] | null {
  if (e === node) return [e];
  const kids = e.k === 'unary' || e.k === 'unaryGrad' ? [e.a] : e.k === 'bin' ? [e.a, e.b] : e.k === 'reduce' ? [e.body] : [];
  for (const c of kids) {
    const p = pathTo(c, node);
    if (p) return [e, ...p];
  }
  return null;
}

function replaceNode(e: KExpr, node: KExpr, by: KExpr): KExpr {
  if (e === node) return by;
  switch (e.k) {
    case 'unary':
    case 'unaryGrad':
      return { ...e, a: replaceNode(e.a, node, by) };
    case 'bin':
      return { ...e, a: replaceNode(e.a, node, by), b: replaceNode(e.b, node, by) };
    case 'reduce':
      return { ...e, body: replaceNode(e.body, node, by) };
    default:
      return e;
  }
}

const isScalar = (e: KExpr) => freeVars(e).size === 0;

function affineOf(coef: Map<string, number>, offset: number): Affine {
  return { terms: [...coef].map(([v, c]) => ({ v, c })), offset };
}

/** every multi-index of vs, row-major, as offsets Σ coef·index (+ base) */
function batchOffsets(vs: readonly Var[], coef: (v: string) => number, base: number): number[] {
  let offs = [base];
  for (const v of vs) {
    const c = coef(v.v);
    const next: number[] = [];
    for (const o of offs) for (let i = 0; i < v.extent; i++) next.push(o + c * i);
    offs = next;
  }
  return offs;
}

/** Try to lower kernel k onto gemm; null when it has no GEMM-shaped core. */
export function matchGemm(k: Kernel): GemmMatch | null {
  const outExt = new Map<string, number>();
  for (const l of k.loops) {
    if (outExt.has(l.v)) return null; // repeated output variable: a diagonal, not a GEMM
    outExt.set(l.v, l.extent);
  }
  let best: GemmMatch | null = null;
  for (const cand of candidates(k.body, new Set(), [])) {
    const m = matchCore(k, cand, outExt);
    if (m && (!best || m.flops > best.flops)) best = m;
  }
  return best;
}

function matchCore(k: Kernel, cand: Candidate, outExt: Map<string, number>): GemmMatch | null {
  const { vars: redAll, body } = flattenSum(cand.node);
  const redExt = new Map<string, number>();
  for (const r of redAll) {
    if (redExt.has(r.v) || outExt.has(r.v)) return null; // shadowing: keep it simple
    redExt.set(r.v, r.extent);
  }
  const isRed = (v: string) => redExt.has(v);
  const fs = factors(body);
  const dep = fs.filter((f) => [...freeVars(f)].some(isRed));
  const indep = fs.filter((f) => ![...freeVars(f)].some(isRed));
  if (dep.length !== 2 || dep[0]!.k !== 'load' || dep[1]!.k !== 'load') return null;
  const [Lx, Rx] = dep as [KExpr & { k: 'load' }, KExpr & { k: 'load' }];
  // extent-1 variables contribute nothing: drop them from the coefficient maps
  const ext = (v: string) => outExt.get(v) ?? redExt.get(v) ?? 0;
  const trim = (c: Map<string, number>) => {
    for (const v of [...c.keys()]) if (ext(v) === 1) c.delete(v);
    return c;
  };
  const cL = trim(coefMap(Lx.at)), cR = trim(coefMap(Rx.at));
  const red = redAll.filter((r) => r.extent !== 1);
  for (const r of red) if (!cL.has(r.v) || !cR.has(r.v)) return null; // a sum over one operand only
  // the core's free variables must be output variables, not shadowed by an enclosing reduce
  const free = new Set([...cL.keys(), ...cR.keys()].filter((v) => !isRed(v)));
  for (const v of free) if (!outExt.has(v) || cand.shadow.has(v)) return null;
  for (const f of indep) for (const v of freeVars(f)) if (!outExt.has(v) || cand.shadow.has(v)) return null;

  if (Lx.buf === k.out || Rx.buf === k.out) return null; // gemm must not write over an operand
  const X = { x: Lx, c: cL }, Y = { x: Rx, c: cR };
  const a = lowerAs(k, cand, X, Y, free, red, indep, outExt);
  const b = lowerAs(k, cand, Y, X, free, red, indep, outExt);
  const m = b.cost < a.cost ? b : a;
  // the generated loops run the reduce's last variable innermost
  const inner = [...redAll].reverse().find((r) => r.extent !== 1);
  const contiguous = inner ? (cL.get(inner.v) === 1 ? 1 : 0) + (cR.get(inner.v) === 1 ? 1 : 0) : 2;
  m.loopsCost = m.flops / GEMM_COST.loopRate[contiguous]!;
  return m;
}

type Load = KExpr & { k: 'load' };

/**
 * The cost model that picks between the orientations C = L·R and Cᵀ = R·L (which decides
 * transposes, packing and where C goes) and between gemm and loops. Seconds; constants measured on
 * the 2-vCPU dev VM (bench/cpu-kernels.ts, and gemm() called directly):
 *  - gemm ≈ 20 GFLOP/s on 4×8-padded tiles (M to a multiple of MR = 4, N of NR = 8) + ~6 µs a call;
 *  - a transposed B is packed by gemm in JS, ≈ 3.6 ns per element of K×Npad: 16×768 @ (1024×768)ᵀ
 *    took 4.7 ms vs 1.9 ms as 1024×768 @ 768×16 (+ a 16×1024 transpose: 33 µs); the 786432-long
 *    dot of an MSE loss took 20.7 ms as a 1×K×1 gemm (K·8 packed) vs 0.57 ms as loops;
 *  - N not a multiple of 8 makes gemm copy B and C row by row, ≈ 150 ns a row
 *    (1×1024 @ 1024×1: 205 µs vs 5 µs for N = 8; 256×64 @ 64×1: 64 µs vs 22 µs);
 *  - a generated copy / pack / epilogue pass ≈ 2.5 ns an element + ~1 µs (1024×768: 1.5–2.5 ms);
 *  - the loops reach ≈ 1.5 GFLOP/s when the innermost reduce variable is contiguous in both operands
 *    (matvec 1.45, dot 2.8), ≈ 1.0 when in one (1.0–1.4), ≈ 0.4 otherwise (0.3–0.6).
 */
export const GEMM_COST = {
  rate: 20e9,
  call: 6e-6,
  transBPerElement: 3.6e-9,
  rowCopy: 150e-9,
  pass: 1e-6,
  passPerElement: 2.5e-9,
  loopRate: [0.4e9, 1.0e9, 1.5e9] as const,
};

function lowerAs(
  k: Kernel,
  cand: Candidate,
  Lo: { x: Load; c: Map<string, number> },
  Ro: { x: Load; c: Map<string, number> },
  free: Set<string>,
  red: Var[],
  indep: KExpr[],
  outExt: Map<string, number>,
): GemmMatch {
  const { x: Lx, c: cL } = Lo;
  const { x: Rx, c: cR } = Ro;
  const outVars = k.loops.filter((l) => l.extent !== 1);
  const cls = (v: string) => (cL.has(v) && cR.has(v) ? 'b' : cL.has(v) ? 'l' : 'r');
  // C straight into the output: every non-trivial output var in the core, in the order
  // [batch…, rows…, cols…] (rows: L's own variables, cols: R's)
  const rank = { b: 0, l: 1, r: 2 } as const;
  const seq = outVars.map((l) => (free.has(l.v) ? rank[cls(l.v)] : -1));
  const cDirect = seq.every((r, i) => r >= 0 && (i === 0 || r >= seq[i - 1]!));
  const coreVars: Var[] = [...free].map((v) => ({ v, extent: outExt.get(v)! }));
  let batch: Var[], rows: Var[], cols: Var[];
  if (cDirect) {
    batch = outVars.filter((l) => cls(l.v) === 'b');
    rows = outVars.filter((l) => cls(l.v) === 'l');
    cols = outVars.filter((l) => cls(l.v) === 'r');
  } else {
    const loopOrder = new Map(k.loops.map((l, i) => [l.v, i]));
    batch = coreVars.filter((x) => cls(x.v) === 'b').sort((a, b) => loopOrder.get(a.v)! - loopOrder.get(b.v)!);
    rows = byStride(coreVars.filter((x) => cls(x.v) === 'l'), cL);
    cols = byStride(coreVars.filter((x) => cls(x.v) === 'r'), cR);
  }
  const redOrd = byStride(red, cL);
  const M = prod(rows), N = prod(cols), K = prod(redOrd), nb = prod(batch);

  // operands: in place when gemm can read them, else packed by a generated copy
  const lLayout = layoutOf(rows, redOrd, cL);
  const rLayoutT = layoutOf(cols, redOrd, cR); // as an n×k operand: "not transposed" = stored n×k = transB
  const mkOperand = (x: KExpr & { k: 'load' }, c: Map<string, number>, direct: boolean, trans: boolean, packedSize: number): GemmOperand => ({
    buf: x.buf,
    direct,
    trans,
    offsets: direct ? batchOffsets(batch, (v) => c.get(v)!, x.at.offset) : batchOffsets(batch, () => 0, 0).map((_, i) => i * packedSize),
  });
  const minStride = (g: Var[], c: Map<string, number>) => g.reduce((m, x) => Math.min(m, Math.abs(c.get(x.v)!)), Infinity);
  // L packed as [batch][M][K], or as [batch][K][M] when a row variable is its most contiguous axis
  const lPackT = lLayout === null && rows.length > 0 && minStride(rows, cL) < minStride(redOrd, cL);
  const L = mkOperand(Lx, cL, lLayout !== null, lLayout ?? lPackT, M * K);
  // R: gemm's B is k×n; as stored n×k it is transB. Packed always as [batch][K][N] (zero-copy in gemm).
  const R = mkOperand(Rx, cR, rLayoutT !== null, rLayoutT === null ? false : !rLayoutT, K * N);
  const pack = (x: KExpr & { k: 'load' }, c: Map<string, number>, loops: Var[], id: BufferId): Kernel => ({
    name: `${k.name}:pack${id === SCRATCH_L ? 'L' : 'R'}`,
    kind: 'elementwise',
    out: id,
    loops,
    body: { k: 'load', buf: x.buf, at: affineOf(c, x.at.offset) },
    inputs: [x.buf],
    flops: 0,
    bytes: 0,
    nodes: [],
  });
  const packL = L.direct ? null : pack(Lx, cL, lPackT ? [...batch, ...redOrd, ...rows] : [...batch, ...rows, ...redOrd], SCRATCH_L);
  const packR = R.direct ? null : pack(Rx, cR, [...batch, ...redOrd, ...cols], SCRATCH_R);

  // C: in the output (offsets by the output's row-major strides) or scratch [batch][M][N]
  const outAff = coefMap(rowMajor(k.loops));
  const cOffsets = cDirect ? batchOffsets(batch, (v) => outAff.get(v)!, 0) : batchOffsets(batch, () => 0, 0).map((_, i) => i * M * N);
  const cAff: Affine = cDirect ? rowMajor(k.loops) : rowMajor([...batch, ...rows, ...cols]);
  const cLoad: KExpr = { k: 'load', buf: cDirect ? k.out : SCRATCH_C, at: cAff };

  // alpha and the epilogue
  const alphaFs = indep.filter(isScalar);
  const epiFs = indep.filter((f) => !isScalar(f));
  const core = cand.node;
  let epiBody: KExpr;
  if (countKey(k.body, exprKey(core)) === 1) {
    // absorb scalar scales right around the core: s·core, core·s, core/s, −core
    const path = pathTo(k.body, core)!;
    let top = path.length - 1;
    while (top > 0) {
      const p = path[top - 1]!, c = path[top]!;
      if (p.k === 'bin' && p.op === '*' && p.a === c && isScalar(p.b)) alphaFs.push(p.b);
      else if (p.k === 'bin' && p.op === '*' && p.b === c && isScalar(p.a)) alphaFs.push(p.a);
      else if (p.k === 'bin' && p.op === '/' && p.a === c && isScalar(p.b)) alphaFs.push({ k: 'bin', op: '/', a: { k: 'const', v: 1 }, b: p.b });
      else if (p.k === 'unary' && p.fn === 'neg') alphaFs.push({ k: 'const', v: -1 });
      else break;
      top--;
    }
    const inner = product([cLoad, ...epiFs])!;
    epiBody = replaceNode(k.body, path[top]!, inner);
  } else {
    epiBody = substitute(k.body, exprKey(core), product([cLoad, ...epiFs])!);
  }
  const identity = cDirect && epiBody.k === 'load' && epiBody.buf === k.out && exprKey(epiBody) === exprKey(cLoad);
  const epilogue: Kernel | null = identity
    ? null
    : { ...k, name: `${k.name}:epilogue`, body: epiBody, inputs: [...k.inputs, cDirect ? k.out : SCRATCH_C] };
  let alpha = product(alphaFs);
  if (alpha && alphaFs.every((f) => f.k === 'const')) {
    const v = alphaFs.reduce((p, f) => p * (f as { v: number }).v, 1);
    alpha = v === 1 ? null : { k: 'const', v };
  }
  const scratch: [number, number, number] = [L.direct ? 0 : nb * M * K, R.direct ? 0 : nb * K * N, cDirect ? 0 : nb * M * N];
  const C = GEMM_COST;
  const Npad = Math.ceil(N / 8) * 8;
  const cost =
    nb * C.call +
    (2 * nb * Math.ceil(M / 4) * 4 * Npad * K) / C.rate +
    (R.trans ? nb * K * Npad * C.transBPerElement : N % 8 !== 0 ? nb * K * C.rowCopy : 0) +
    (N % 8 !== 0 ? nb * M * C.rowCopy : 0) +
    (scratch[0] + scratch[1] + (epilogue ? prod(k.loops) : 0)) * C.passPerElement +
    ((packL ? 1 : 0) + (packR ? 1 : 0) + (epilogue ? 1 : 0)) * C.pass;
  return {
    cost,
    loopsCost: Infinity,
    core,
    batch,
    rows,
    cols,
    red: redOrd,
    M,
    N,
    K,
    L,
    R,
    cDirect,
    cOffsets,
    alpha,
    packL,
    packR,
    epilogue,
    scratch,
    flops: 2 * nb * M * N * K,
  };
}

export interface CompiledCpuKernel {
  readonly kernel: Kernel;
  readonly strategy: CpuStrategy;
  /** the GEMM lowering when strategy is gemm / gemm-packed */
  readonly gemm: GemmMatch | null;
  /** generated JS (loops, or pack / alpha / epilogue passes around the gemm call) */
  readonly source: string;
  /** scratch arrays run() needs, in elements: S[0] packed L, S[1] packed R, S[2] C */
  readonly scratch: readonly [number, number, number];
  /**
   * Compute the kernel. B[id]: the Float32Array of each buffer (read at every call, so buffers may
   * be swapped between calls); S: scratch arrays at least `scratch` long (allocated privately on
   * first use when omitted). GEMM operands inside the gemm engine's wasm memory are used in place.
   */
  run(B: readonly Float32Array[], args?: Readonly<Record<string, number>>, S?: readonly Float32Array[]): void;
}

/** How compileCpuKernel would run k. */
export function strategyOf(k: Kernel, opts: CpuKernelOptions = {}): CpuStrategy {
  const m = opts.strategy === 'loops' ? null : matchGemm(k);
  return pick(m, opts);
}

function pick(m: GemmMatch | null, opts: CpuKernelOptions): CpuStrategy {
  if (!m || opts.strategy === 'loops') return 'loops';
  if (opts.strategy !== 'gemm' && !(m.cost < m.loopsCost)) return 'loops';
  return m.L.direct && m.R.direct && m.cDirect ? 'gemm' : 'gemm-packed';
}

const NO_ARGS: Readonly<Record<string, number>> = Object.freeze({});

/** Render kernel k for the CPU: generated loops, or gemm + generated passes. */
export function compileCpuKernel(k: Kernel, opts: CpuKernelOptions = {}): CompiledCpuKernel {
  const m = opts.strategy === 'loops' ? null : matchGemm(k);
  const strategy = pick(m, opts);
  let own: Float32Array[] | null = null;
  const scratchOf = (sizes: readonly number[], S?: readonly Float32Array[]) => {
    if (S) return S;
    own ??= sizes.map((n) => new Float32Array(n));
    return own;
  };
  if (strategy === 'loops' || !m) {
    const { fn, source } = compileLoops(k);
    const scratch = [0, 0, 0] as const;
    return { kernel: k, strategy: 'loops', gemm: null, source, scratch, run: (B, args = NO_ARGS, S) => fn(B, args, S ?? []) };
  }
  const g = opts.gemm ?? defaultGemm;
  const sources: string[] = [];
  const compile = (x: Kernel | null): KernelFn | null => {
    if (!x) return null;
    const c = compileLoops(x);
    sources.push(`// ${x.name}\n${c.source}`);
    return c.fn;
  };
  const packL = compile(m.packL), packR = compile(m.packR), epi = compile(m.epilogue);
  let alphaFn: ScalarFn | null = null;
  let alphaConst = 1;
  if (m.alpha?.k === 'const') alphaConst = m.alpha.v;
  else if (m.alpha) {
    const c = compileScalar(m.alpha, `${k.name}:alpha`);
    sources.push(`// alpha\n${c.source}`);
    alphaFn = c.fn;
  }
  const { M, N, K, L, R } = m;
  const gopts: GemmOptions = { transA: L.trans, transB: R.trans, alpha: alphaConst };
  const nb = L.offsets.length;
  const lOff = L.offsets, rOff = R.offsets, cOff = m.cOffsets;
  // subarray views per (array, batch), cached so steady-state runs allocate no views
  const lViews = new WeakMap<Float32Array, Float32Array[]>(), rViews = new WeakMap<Float32Array, Float32Array[]>(), cViews = new WeakMap<Float32Array, Float32Array[]>();
  const viewIn = (cache: WeakMap<Float32Array, Float32Array[]>, a: Float32Array, offs: number[], i: number) => {
    if (offs.length === 1 && offs[0] === 0) return a;
    let vs = cache.get(a);
    if (!vs) {
      vs = offs.map((o) => a.subarray(o));
      cache.set(a, vs);
    }
    return vs[i]!;
  };
  const cOut = m.cDirect ? k.out : null;
  const needScratch = m.scratch.some((n) => n > 0);
  const run = (B: readonly Float32Array[], args: Readonly<Record<string, number>> = NO_ARGS, S0?: readonly Float32Array[]) => {
    const S = needScratch ? scratchOf(m.scratch, S0) : (S0 ?? []);
    if (packL) packL(B, args, S);
    if (packR) packR(B, args, S);
    const a = L.direct ? B[L.buf]! : S[0]!;
    const b = R.direct ? B[R.buf]! : S[1]!;
    const c = cOut !== null ? B[cOut]! : S[2]!;
    if (alphaFn) gopts.alpha = alphaFn(B, args, S);
    for (let i = 0; i < nb; i++) g(viewIn(lViews, a, lOff, i), viewIn(rViews, b, rOff, i), viewIn(cViews, c, cOff, i), M, K, N, gopts);
    if (epi) epi(B, args, S);
  };
  return { kernel: k, strategy, gemm: m, source: sources.join('\n'), scratch: m.scratch, run };
}
