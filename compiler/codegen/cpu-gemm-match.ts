// GEMM recognition and lowering for the CPU renderer (cpu.ts).
//
// GEMM recognition (matchGemm): find the core `reduce(sum, K…, f · load(L) · load(R))` (nested sum
// reduces flattened; factors f that do not depend on K are pulled out: variable-free ones, and
// variable-free scales right around the core (s·core, core/s, −core), into gemm's alpha, the others
// into the epilogue). Its free variables split into
//   batch — in both L and R        rows — only in L        cols — only in R
// and every reduce variable must be in both. Each group is fused into one index when its strides
// nest (row-major within the group); an operand is read in place when its layout is one gemm
// takes (op(A) = A or Aᵀ with leading dimension exactly K or M; the same for B; with a gemm that
// takes leading dimensions — OpenBLAS's batched call, `strided` — any row stride at least that, so a
// head's 65×64 slice of a [batch, token, head·64] tensor is read in place), else a generated copy
// loop packs it into scratch first ('gemm-packed'). Batches are one gemm call each, on
// subarray views (a batch variable absent from R is a row variable: it folds into M). The result
// goes straight into the output when the output is [batch…, rows…, cols…] row-major (`strided`:
// whenever the cols are contiguous in the output and the rows nest above them, batch variables
// anywhere: attention's per-head result written into [batch, token, head·64] with ldc = 384), else
// into a scratch C that the epilogue reads. Which operand is L (C = L·R or Cᵀ = R·L) is decided by a
// measured cost model (GEMM_COST, cpu-cost.ts), and so is gemm vs loops in 'auto'. The epilogue is the kernel
// body with the core replaced by a load of C (× the pulled-out factors), rendered like any other
// kernel, in place; it is skipped when it would copy C onto itself.
import type { Affine, BufferId, Kernel, KExpr } from '../fuse/kernel-ir.ts';
import { gemmCost, loopsCost } from './cpu-cost.ts';
import { coefMap, exprKey, freeVars, rowMajor } from './cpu-kexpr.ts';
import { type Candidate, candidates, countKey, factors, flattenSum, pathTo, product, replaceNode, substitute } from './cpu-gemm-tree.ts';
import { type PrefillTerm, prefillOf } from './cpu-gemm-prefill.ts';

/** Scratch ids used by GEMM lowering: S[0] packed L, S[1] packed R, S[2] the GEMM result C. */
export const SCRATCH_L: BufferId = -1;
export const SCRATCH_R: BufferId = -2;
export const SCRATCH_C: BufferId = -3;

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
  /** leading dimension (row stride of the matrix as stored, or as packed) */
  ld: number;
}

export interface GemmMatchOptions {
  /**
   * the gemm takes any leading dimensions (lda, ldb, ldc at least the row length): OpenBLAS's
   * batched call. Without it (the wasm gemm) operands and C must be contiguous matrices.
   */
  strided?: boolean;
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
  /** C's leading dimension */
  ldc: number;
  /** variable-free factor for gemm's alpha (null: 1) */
  alpha: KExpr | null;
  /** copy loops that pack L / R into S[0] / S[1] */
  packL: Kernel | null;
  packR: Kernel | null;
  /** the pass after gemm (null: gemm's result is the kernel's output as is, or `prefill` did its work) */
  epilogue: Kernel | null;
  /**
   * `strided` only: the additive epilogue C + t₁ + … done natively instead: the terms written into C
   * before a gemm with beta = 1 (cpu-gemm-prefill.ts); null when there is none
   */
  prefill: PrefillTerm[] | null;
  /** scratch sizes in elements: [L, R, C] */
  scratch: [number, number, number];
  /** 2·batch·M·N·K */
  flops: number;
}

const prod = (vs: readonly Var[]) => vs.reduce((p, v) => p * v.extent, 1);

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

/**
 * How gemm can read an m×k operand (row var group, reduce group) in place: transposed or not, and its
 * leading dimension; null when it cannot. `strided`: any leading dimension ≥ the row length.
 */
function layoutOf(rows: Var[], red: Var[], coef: Map<string, number>, strided: boolean): { trans: boolean; ld: number } | null {
  const m = prod(rows), k = prod(red);
  const sr = fusedStride(rows, coef), sk = fusedStride(red, coef);
  if (sr === null || sk === null) return null;
  if ((m === 1 || fits(sr, k, strided)) && (k === 1 || sk === 1)) return { trans: false, ld: Math.max(1, m === 1 ? k : sr) }; // as stored: m×k row-major
  if ((m === 1 || sr === 1) && (k === 1 || fits(sk, m, strided))) return { trans: true, ld: Math.max(1, k === 1 ? m : sk) }; // stored k×m: transposed
  return null;
}

/** rows of `len` elements at this stride: packed, or (a strided gemm) padded */
const fits = (stride: number, len: number, strided: boolean) => stride === len || (strided && stride > len);

const isScalar = (e: KExpr) => freeVars(e).size === 0;

function affineOf(coef: Map<string, number>, offset: number): Affine {
  return { terms: [...coef].map(([v, c]) => ({ v, c })), offset };
}

/** every multi-index of vs, row-major, as offsets Σ coef·index (+ base): one array, expanded in place */
function batchOffsets(vs: readonly Var[], coef: (v: string) => number, base: number): number[] {
  const n = prod(vs);
  if (n === 0) return [];
  const offs = new Array<number>(n);
  offs[0] = base;
  let len = 1;
  for (const v of vs) {
    const c = coef(v.v), e = v.extent;
    // entry q becomes entries q·e … q·e + e − 1 (from the last, so no entry is overwritten before it is read)
    for (let q = len - 1; q >= 0; q--) {
      const o = offs[q]!;
      for (let i = e - 1; i >= 0; i--) offs[q * e + i] = o + c * i;
    }
    len *= e;
  }
  return offs;
}

/** offsets of n consecutive blocks of `size` elements (a packed batch) */
function packedOffsets(n: number, size: number): number[] {
  const offs = new Array<number>(n);
  for (let i = 0; i < n; i++) offs[i] = i * size;
  return offs;
}

/** batches above this many, around a core of fewer than TINY_CORE multiply-adds, are left to the loops */
const MAX_TINY_BATCH = 4096;
const TINY_CORE = 4096;

/** Try to lower kernel k onto gemm; null when it has no GEMM-shaped core. */
export function matchGemm(k: Kernel, opts: GemmMatchOptions = {}): GemmMatch | null {
  const outExt = new Map<string, number>();
  for (const l of k.loops) {
    if (outExt.has(l.v)) return null; // repeated output variable: a diagonal, not a GEMM
    outExt.set(l.v, l.extent);
  }
  let best: GemmMatch | null = null;
  for (const cand of candidates(k.body, new Set(), [])) {
    const m = matchCore(k, cand, outExt, opts.strided ?? false);
    if (m && (!best || m.flops > best.flops)) best = m;
  }
  return best;
}

function matchCore(k: Kernel, cand: Candidate, outExt: Map<string, number>, strided: boolean): GemmMatch | null {
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
  // Thousands of tiny gemms (a batch in both operands around a small core) never beat the loops: one
  // gemm call's overhead then exceeds its work at any rate, and listing every batch's offsets is
  // what made compiling a whole model slow. Decline before lowering.
  const extOf = (vs: Iterable<string>) => [...vs].reduce((p, v) => p * ext(v), 1);
  const nbAll = extOf([...free].filter((v) => cL.has(v) && cR.has(v)));
  if (nbAll > MAX_TINY_BATCH && extOf([...free].filter((v) => !(cL.has(v) && cR.has(v)))) * extOf(red.map((r) => r.v)) < TINY_CORE) return null;
  const X = { x: Lx, c: cL }, Y = { x: Rx, c: cR };
  const a = lowerAs(k, cand, X, Y, free, red, indep, outExt, strided);
  const b = lowerAs(k, cand, Y, X, free, red, indep, outExt, strided);
  const { m, offsets } = b.m.cost < a.m.cost ? b : a;
  offsets(); // of the orientation taken only (a per-token product lists thousands)
  // the generated loops run the reduce's last variable innermost
  const inner = [...redAll].reverse().find((r) => r.extent !== 1);
  const contiguous = inner ? (cL.get(inner.v) === 1 ? 1 : 0) + (cR.get(inner.v) === 1 ? 1 : 0) : 2;
  m.loopsCost = loopsCost(m.flops, contiguous);
  return m;
}

type Load = KExpr & { k: 'load' };

function lowerAs(
  k: Kernel,
  cand: Candidate,
  Lo: { x: Load; c: Map<string, number> },
  Ro: { x: Load; c: Map<string, number> },
  free: Set<string>,
  red: Var[],
  indep: KExpr[],
  outExt: Map<string, number>,
  strided: boolean,
): { m: GemmMatch; offsets: () => void } {
  const { x: Lx, c: cL } = Lo;
  const { x: Rx, c: cR } = Ro;
  const outVars = k.loops.filter((l) => l.extent !== 1);
  const cls = (v: string) => (cL.has(v) && cR.has(v) ? 'b' : cL.has(v) ? 'l' : 'r');
  // C straight into the output: every non-trivial output var in the core, in the order
  // [batch…, rows…, cols…] (rows: L's own variables, cols: R's); `strided`: any order where the cols
  // are contiguous and the rows nest above them (ldc = the rows' stride)
  const rank = { b: 0, l: 1, r: 2 } as const;
  const outAff = coefMap(rowMajor(k.loops));
  const seq = outVars.map((l) => (free.has(l.v) ? rank[cls(l.v)] : -1));
  const allInCore = seq.every((r) => r >= 0);
  const inOrder = seq.every((r, i) => i === 0 || r >= seq[i - 1]!);
  const oRows = outVars.filter((l) => cls(l.v) === 'l'), oCols = outVars.filter((l) => cls(l.v) === 'r');
  const sRow = fusedStride(oRows, outAff), sCol = fusedStride(oCols, outAff);
  const cDirect = allInCore && (inOrder || (strided && sRow !== null && sCol !== null && (oCols.length === 0 || sCol === 1) && (oRows.length === 0 || sRow! >= prod(oCols))));
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
  const lLayout = layoutOf(rows, redOrd, cL, strided);
  const rLayoutT = layoutOf(cols, redOrd, cR, strided); // as an n×k operand: "not transposed" = stored n×k = transB
  const mkOperand = (x: KExpr & { k: 'load' }, direct: boolean, trans: boolean, ld: number): GemmOperand => ({
    buf: x.buf,
    direct,
    trans,
    offsets: [], // filled by offsetsOf, for the orientation matchCore takes
    ld,
  });
  const offsetsOf = (x: KExpr & { k: 'load' }, c: Map<string, number>, o: GemmOperand, packedSize: number) =>
    (o.offsets = o.direct ? batchOffsets(batch, (v) => c.get(v)!, x.at.offset) : packedOffsets(nb, packedSize));
  const minStride = (g: Var[], c: Map<string, number>) => g.reduce((m, x) => Math.min(m, Math.abs(c.get(x.v)!)), Infinity);
  // L packed as [batch][M][K], or as [batch][K][M] when a row variable is its most contiguous axis
  const lPackT = lLayout === null && rows.length > 0 && minStride(rows, cL) < minStride(redOrd, cL);
  const L = lLayout ? mkOperand(Lx, true, lLayout.trans, lLayout.ld) : mkOperand(Lx, false, lPackT, Math.max(1, lPackT ? M : K));
  // R: gemm's B is k×n; as stored n×k it is transB. Packed always as [batch][K][N] (zero-copy in gemm).
  const R = rLayoutT ? mkOperand(Rx, true, !rLayoutT.trans, rLayoutT.ld) : mkOperand(Rx, false, false, Math.max(1, N));
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
  const ldc = Math.max(1, cDirect && rows.length > 0 ? fusedStride(rows, outAff)! : N);
  const cOffsetsOf = () => (cDirect ? batchOffsets(batch, (v) => outAff.get(v)!, 0) : packedOffsets(nb, M * N));
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
  const prefill = strided && cDirect && nb === 1 && !identity ? prefillOf(epiBody, cLoad, k.out, rows, cols) : null;
  const epilogue: Kernel | null =
    identity || prefill ? null : { ...k, name: `${k.name}:epilogue`, body: epiBody, inputs: [...k.inputs, cDirect ? k.out : SCRATCH_C] };
  let alpha = product(alphaFs);
  if (alpha && alphaFs.every((f) => f.k === 'const')) {
    const v = alphaFs.reduce((p, f) => p * (f as { v: number }).v, 1);
    alpha = v === 1 ? null : { k: 'const', v };
  }
  const scratch: [number, number, number] = [L.direct ? 0 : nb * M * K, R.direct ? 0 : nb * K * N, cDirect ? 0 : nb * M * N];
  // a C in scratch is one more pass: the epilogue then reads it in another order than the output's
  // (a native prefill streams C about 3× faster than a generated pass)
  const passElements = scratch[0] + scratch[1] + scratch[2] + (epilogue ? prod(k.loops) : 0) + (prefill ? prod(k.loops) / 3 : 0);
  const passes = (packL ? 1 : 0) + (packR ? 1 : 0) + (epilogue ? 1 : 0);
  const cost = gemmCost(nb, M, N, K, R.trans, passElements, passes);
  const m: GemmMatch = {
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
    cOffsets: [],
    ldc,
    alpha,
    packL,
    packR,
    epilogue,
    prefill,
    scratch,
    flops: 2 * nb * M * N * K,
  };
  const offsets = () => {
    offsetsOf(Lx, cL, L, M * K);
    offsetsOf(Rx, cR, R, K * N);
    m.cOffsets = cOffsetsOf();
  };
  return { m, offsets };
}
