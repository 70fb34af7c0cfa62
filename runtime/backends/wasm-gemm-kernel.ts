/**
 * Generator for the WebAssembly SIMD f32 GEMM kernels used by cpu-gemm.ts.
 *
 * Memory is one imported (shared) memory: `env.mem`. All pointers and
 * strides are in BYTES.
 *
 * Layout the kernels expect:
 *  - A: any strided view. `sai` = bytes between rows i, `sak` = bytes between
 *    k. Row-major A: sai = 4K, sak = 4 → the 'rows' tiles (per-row pointers,
 *    immediate k offsets). Aᵀ stored K×M: sai = 4, sak = 4M → the 'cols'
 *    tiles (one pointer, rows at immediate offsets). No A packing at all.
 *  - B: packed in panels of NR columns: panel p is K×NR contiguous (k-major),
 *    zero-padded past N; `pstride` = bytes between panels (4·K·NR).
 *  - C: row-major with row stride `ldc` bytes, NR-padded columns.
 *
 * Exports:
 *   run_n / run_t (a, sai, sak, bp, pstride, c, ldc, m, np, K, kc, mc, alpha: f32, beta: i32)
 *     C[0..m, 0..np·NR) (beta ? += : =) alpha · A[0..m, 0..K) · Bpacked
 *     loops: kc blocks of K (B micro-panel kc×NR stays in L1) → mc blocks of
 *     rows (A block mc×kc stays in L2) → NR panels → MR-row tiles.
 *   pack_b (src, ldb, dst, K, np): pack a row-major B with np·NR readable
 *     columns (ldb bytes per row) into panels. The caller pads short rows;
 *     padding columns only feed padding columns of C, which are discarded.
 *     (Bᵀ is packed in JS.)
 *
 * Micro-kernel: MR×NR accumulators in v128 locals, f32x4.mul + f32x4.add,
 * or f32x4.relaxed_madd with `relaxed` (fused or not at the engine's choice:
 * results may differ from mul+add in the last bit). Zen 3 has 2 FMUL + 2
 * FADD pipes, so both reach the same peak on paper; FMA measured +20% here
 * (fewer instructions, no temporary register).
 */
import { Code, F32, I32, ModuleBuilder, V128, type Local, type ValType } from './wasm-emit.ts';

export interface GemmKernelConfig {
  /** rows per micro tile */
  MR: number;
  /** columns per micro tile (multiple of 4) */
  NR: number;
  /** k-loop unroll for the 'rows' tiles (1 is fastest: TurboFan spills unrolled bodies) */
  U: number;
  /** use relaxed_madd (only where relaxed SIMD validates) */
  relaxed?: boolean;
}

export const DEFAULT_KERNEL: GemmKernelConfig = { MR: 4, NR: 8, U: 1 };

type Variant = 'rows' | 'cols';

// tile(a, sai, sak, b, c, ldc, kc, alpha, beta)
const TILE_PARAMS: ValType[] = [I32, I32, I32, I32, I32, I32, I32, F32, I32];

function emitTile(c: Code, R: number, cfg: GemmKernelConfig, variant: Variant): void {
  const { NR } = cfg;
  const V = NR / 4;
  const a = c.param(0), sai = c.param(1), sak = c.param(2), b = c.param(3);
  const cp = c.param(4), ldc = c.param(5), kc = c.param(6), alpha = c.param(7), beta = c.param(8);
  const k = c.local(I32);
  const pb = c.local(I32);
  const acc: Local[][] = [];
  for (let r = 0; r < R; r++) {
    acc.push([]);
    for (let v = 0; v < V; v++) acc[r]!.push(c.local(V128));
  }
  const bv: Local[] = [];
  for (let v = 0; v < V; v++) bv.push(c.local(V128));
  const av = c.local(V128);
  const pa: Local[] = [];
  const nPtr = variant === 'rows' ? R : 1;
  for (let r = 0; r < nPtr; r++) pa.push(c.local(I32));

  // pointers
  for (let r = 0; r < nPtr; r++) {
    c.get(a);
    if (r > 0) c.get(sai).i32(r).i32Mul().i32Add();
    c.set(pa[r]!);
  }
  c.get(b).set(pb);
  c.get(kc).set(k);
  for (let r = 0; r < R; r++) for (let v = 0; v < V; v++) c.v128Zero().set(acc[r]![v]!);

  const madd = (r: number, v: number) => {
    if (cfg.relaxed) {
      c.get(av).get(bv[v]!).get(acc[r]![v]!).f32x4RelaxedMadd().set(acc[r]![v]!);
    } else {
      c.get(acc[r]![v]!).get(av).get(bv[v]!).f32x4Mul().f32x4Add().set(acc[r]![v]!);
    }
  };
  const step = (u: number) => {
    for (let v = 0; v < V; v++) c.get(pb).v128Load((u * NR + v * 4) * 4).set(bv[v]!);
    for (let r = 0; r < R; r++) {
      if (variant === 'rows') c.get(pa[r]!).v128Load32Splat(u * 4);
      else c.get(pa[0]!).v128Load32Splat(r * 4);
      c.set(av);
      for (let v = 0; v < V; v++) madd(r, v);
    }
  };

  const U = variant === 'rows' ? cfg.U : 1;
  if (U > 1) {
    // while (k >= U) { U steps }
    c.block();
    c.get(k).i32(U).i32LtS().brIf(0);
    c.loop();
    for (let u = 0; u < U; u++) step(u);
    for (let r = 0; r < R; r++) c.get(pa[r]!).i32(4 * U).i32Add().set(pa[r]!);
    c.get(pb).i32(NR * 4 * U).i32Add().set(pb);
    c.get(k).i32(U).i32Sub().tee(k).i32(U).i32GeS().brIf(0);
    c.end();
    c.end();
  }
  // while (k > 0) { 1 step }
  c.block();
  c.get(k).i32(0).i32LeS().brIf(0);
  c.loop();
  step(0);
  if (variant === 'rows') for (let r = 0; r < R; r++) c.get(pa[r]!).i32(4).i32Add().set(pa[r]!);
  else c.get(pa[0]!).get(sak).i32Add().set(pa[0]!);
  c.get(pb).i32(NR * 4).i32Add().set(pb);
  c.get(k).i32(1).i32Sub().tee(k).i32(0).i32GtS().brIf(0);
  c.end();
  c.end();

  // store: C = alpha*acc (+ C if beta)
  const al = c.local(V128);
  const pcRow = c.local(I32);
  c.get(alpha).f32x4Splat().set(al);
  c.get(cp).set(pcRow);
  for (let r = 0; r < R; r++) {
    if (r > 0) c.get(pcRow).get(ldc).i32Add().set(pcRow);
    c.get(beta).if_();
    for (let v = 0; v < V; v++) {
      c.get(pcRow).get(pcRow).v128Load(v * 16).get(acc[r]![v]!).get(al).f32x4Mul().f32x4Add().v128Store(v * 16);
    }
    c.else_();
    for (let v = 0; v < V; v++) c.get(pcRow).get(acc[r]![v]!).get(al).f32x4Mul().v128Store(v * 16);
    c.end();
  }
}

// block(a, sai, sak, bp, pstride, c, ldc, m, np, kc, alpha, beta)
const BLOCK_PARAMS: ValType[] = [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32, I32];

function emitBlock(c: Code, tiles: number[], cfg: GemmKernelConfig): void {
  const { MR, NR } = cfg;
  const [a, sai, sak, bp, pstride, cp, ldc, m, np, kc, alpha, beta] = BLOCK_PARAMS.map((_, i) => c.param(i));
  const p = c.local(I32), ai = c.local(I32), ci = c.local(I32), i = c.local(I32), bpp = c.local(I32), cpp = c.local(I32);
  const callTile = (R: number) => {
    c.get(ai).get(sai!).get(sak!).get(bpp).get(ci).get(ldc!).get(kc!).get(alpha!).get(beta!).call(tiles[R]!);
  };
  c.get(bp!).set(bpp);
  c.get(cp!).set(cpp);
  c.get(np!).set(p);
  c.block();
  c.get(p).i32(0).i32LeS().brIf(0);
  c.loop(); // panels
  {
    c.get(a!).set(ai);
    c.get(cpp).set(ci);
    c.get(m!).set(i);
    // full MR tiles
    c.block();
    c.get(i).i32(MR).i32LtS().brIf(0);
    c.loop();
    callTile(MR);
    c.get(ai).get(sai!).i32(MR).i32Mul().i32Add().set(ai);
    c.get(ci).get(ldc!).i32(MR).i32Mul().i32Add().set(ci);
    c.get(i).i32(MR).i32Sub().tee(i).i32(MR).i32GeS().brIf(0);
    c.end();
    c.end();
    // remainder rows: one tile of exactly i rows
    for (let R = 1; R < MR; R++) {
      c.get(i).i32(R).i32Eq().if_();
      callTile(R);
      c.end();
    }
    c.get(bpp).get(pstride!).i32Add().set(bpp);
    c.get(cpp).i32(NR * 4).i32Add().set(cpp);
    c.get(p).i32(1).i32Sub().tee(p).i32(0).i32GtS().brIf(0);
  }
  c.end();
  c.end();
}

// run(a, sai, sak, bp, pstride, c, ldc, m, np, K, kc, mc, alpha, beta)
const RUN_PARAMS: ValType[] = [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32, I32];

function emitRun(c: Code, block: number, cfg: GemmKernelConfig): void {
  const { NR } = cfg;
  const [a, sai, sak, bp, pstride, cp, ldc, m, np, K, kc, mc, alpha, beta] = RUN_PARAMS.map((_, i) => c.param(i));
  const pc = c.local(I32), ic = c.local(I32), kcur = c.local(I32), mcur = c.local(I32);
  c.i32(0).set(pc);
  c.block();
  c.get(K!).i32(0).i32LeS().brIf(0);
  c.loop(); // pc
  {
    // kcur = min(kc, K - pc)
    c.get(kc!).get(K!).get(pc).i32Sub().get(kc!).get(K!).get(pc).i32Sub().i32LtS().select().set(kcur);
    c.i32(0).set(ic);
    c.block();
    c.get(m!).i32(0).i32LeS().brIf(0);
    c.loop(); // ic
    {
      c.get(mc!).get(m!).get(ic).i32Sub().get(mc!).get(m!).get(ic).i32Sub().i32LtS().select().set(mcur);
      // a + ic*sai + pc*sak
      c.get(a!).get(ic).get(sai!).i32Mul().i32Add().get(pc).get(sak!).i32Mul().i32Add();
      c.get(sai!).get(sak!);
      c.get(bp!).get(pc).i32(NR * 4).i32Mul().i32Add();
      c.get(pstride!);
      c.get(cp!).get(ic).get(ldc!).i32Mul().i32Add();
      c.get(ldc!).get(mcur).get(np!).get(kcur).get(alpha!);
      c.get(beta!).get(pc).i32(0).i32GtS().i32Or();
      c.call(block);
      c.get(ic).get(mc!).i32Add().tee(ic).get(m!).i32LtS().brIf(0);
    }
    c.end();
    c.end();
    c.get(pc).get(kc!).i32Add().tee(pc).get(K!).i32LtS().brIf(0);
  }
  c.end();
  c.end();
}

// pack_b(src, ldb, dst, K, np): panels of NR floats per k; src rows hold np*NR readable floats (caller pads)
function emitPackB(c: Code, cfg: GemmKernelConfig): void {
  const { NR } = cfg;
  const V = NR / 4;
  const src = c.param(0), ldb = c.param(1), dst = c.param(2), K = c.param(3), np = c.param(4);
  const p = c.local(I32), k = c.local(I32), s = c.local(I32), d = c.local(I32);
  c.block();
  c.get(np).i32(0).i32LeS().get(K).i32(0).i32LeS().i32Or().brIf(0);
  c.i32(0).set(p);
  c.loop(); // p
  {
    // s = src + p*NR*4 ; d = dst + p*K*NR*4
    c.get(src).get(p).i32(NR * 4).i32Mul().i32Add().set(s);
    c.get(dst).get(p).get(K).i32Mul().i32(NR * 4).i32Mul().i32Add().set(d);
    c.get(K).set(k);
    c.loop();
    for (let v = 0; v < V; v++) c.get(d).get(s).v128Load(v * 16, 2).v128Store(v * 16);
    c.get(s).get(ldb).i32Add().set(s);
    c.get(d).i32(NR * 4).i32Add().set(d);
    c.get(k).i32(1).i32Sub().tee(k).i32(0).i32GtS().brIf(0);
    c.end();
    c.get(p).i32(1).i32Add().tee(p).get(np).i32LtS().brIf(0);
  }
  c.end();
  c.end();
}

/** Build the module bytes. `maxPages` bounds the shared memory (64 KiB pages). */
export function buildGemmWasm(cfg: GemmKernelConfig = DEFAULT_KERNEL, maxPages = 32768): Uint8Array<ArrayBuffer> {
  if (cfg.NR % 4 !== 0) throw new Error('NR must be a multiple of 4');
  const mb = new ModuleBuilder({ module: 'env', name: 'mem', minPages: 1, maxPages, shared: true });
  for (const variant of ['rows', 'cols'] as const) {
    const tiles: number[] = [];
    for (let R = 1; R <= cfg.MR; R++) tiles[R] = mb.func(TILE_PARAMS, [], (c) => emitTile(c, R, cfg, variant));
    const block = mb.func(BLOCK_PARAMS, [], (c) => emitBlock(c, tiles, cfg));
    mb.func(RUN_PARAMS, [], (c) => emitRun(c, block, cfg), variant === 'rows' ? 'run_n' : 'run_t');
  }
  mb.func([I32, I32, I32, I32, I32], [], (c) => emitPackB(c, cfg), 'pack_b');
  return mb.bytes();
}
