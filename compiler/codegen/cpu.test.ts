import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { KernelPlan, KExpr } from '../fuse/kernel-ir.ts';
import { cpuGemmReady, gemm } from '../../runtime/backends/cpu-gemm.ts';
import { loadNativeBlas } from '../../runtime/backends/native-blas.ts';
import type * as T from '../../runtime/tensor/index.ts';
import { compileCpuKernel, type CpuKernelOptions, type GemmFn, kernelFactoriesCompiled, matchGemm, renderKernel, strategyOf } from './cpu.ts';
import { exprKey } from './cpu-kexpr.ts';
import { arg, bin, closeness, cst, kernel, ld, max, plan, prng, rand, referenceRun, strides, sum, un } from './cpu-testkit.ts';

const STRATEGIES = ['auto', 'loops', 'gemm'] as const;

/** run every kernel of p with compileCpuKernel (options per call), return the outputs */
function runCompiled(p: KernelPlan, feeds: Map<string, Float32Array>, args: Record<string, number>, opts: CpuKernelOptions) {
  const B: Float32Array[] = p.buffers.map((b) => new Float32Array(b.size).fill(NaN)); // NaN: unwritten cells show
  for (const [name, id] of p.leaves) B[id] = feeds.get(name)!.slice();
  const compiled = p.kernels.map((k) => compileCpuKernel(k, { gemm, ...opts }));
  for (const c of compiled) c.run(B, args);
  return { out: new Map([...p.outputs].map(([n, id]) => [n, B[id]!])), compiled };
}

/** every strategy equals the float64 reference within tolerance */
function agree(p: KernelPlan, seed: number, args: Record<string, number> = {}, tol = { rtol: 1e-4, atol: 1e-4 }, extra: CpuKernelOptions = {}): string[] {
  const { feeds, ref } = referenceRun(p, seed, args);
  const used: string[] = [];
  for (const strategy of STRATEGIES) {
    const { out, compiled } = runCompiled(p, feeds, args, { ...extra, strategy });
    used.push(...compiled.map((c) => c.strategy));
    for (const [name, want] of ref) {
      const got = out.get(name)!;
      const c = closeness(got, want.data, tol.rtol, tol.atol);
      if (!(c.worst <= 1)) {
        throw new Error(
          `${strategy} (${compiled.map((x) => x.strategy).join(',')}) ${name}[${c.at}]: got ${got[c.at]}, want ${want.data[c.at]} (${c.worst.toFixed(2)}× tol)\n${compiled.map((x) => x.source).join('\n')}`,
        );
      }
    }
  }
  return used;
}

// ---- the matmul family: every layout of A, B and the output, batch, epilogues, scales ----

interface MM {
  M: number;
  K: number;
  N: number;
  nb: number;
  /** B shared across the batch (the batch folds into M) */
  fold: boolean;
  aOrder: string[];
  bOrder: string[];
  oOrder: string[];
  /** extra elements after each innermost row of A (a slice of a wider array) */
  padA: number;
  /** split k into k1·k2 (two reduce variables) */
  splitK: boolean;
  scale: 'none' | 'const' | 'arg' | 'neg' | 'div' | 'inside';
  epi: 'none' | 'biasCol' | 'biasRow' | 'reluBias' | 'add' | 'gelu';
}

function storage(order: string[], ext: Record<string, number>, pad = 0): { st: Record<string, number>; size: number } {
  const shape = order.map((v) => ext[v]!);
  if (pad) shape[shape.length - 1]! += pad;
  const st = strides(order, shape);
  return { st, size: shape.reduce((p, x) => p * x, 1) };
}

function mmPlan(c: MM): KernelPlan {
  const ext: Record<string, number> = { b: c.nb, i: c.M, k: c.K, j: c.N };
  const a = storage(c.aOrder, ext, c.padA);
  const b = storage(c.bOrder, ext);
  const loadA = (s: Record<string, number>) => ld(0, s, 1);
  let prodAB: KExpr;
  let red: Record<string, number>;
  if (c.splitK && c.K % 2 === 0) {
    // k = 2·k1 + k2
    const sub = (st: Record<string, number>) => {
      const { k, ...rest } = st;
      return { ...rest, k1: 2 * k!, k2: k! };
    };
    prodAB = bin('*', loadA(sub(a.st)), ld(1, sub(b.st)));
    red = { k1: c.K / 2, k2: 2 };
  } else {
    prodAB = bin('*', loadA(a.st), ld(1, b.st));
    red = { k: c.K };
  }
  if (c.scale === 'inside') prodAB = bin('*', cst(0.25), bin('*', prodAB, arg('s')));
  let body: KExpr = sum(red, prodAB);
  if (c.scale === 'const') body = bin('*', cst(0.5), body);
  if (c.scale === 'arg') body = bin('*', body, arg('s'));
  if (c.scale === 'neg') body = un('neg', body);
  if (c.scale === 'div') body = bin('/', body, cst(3));
  const o = storage(c.oOrder, ext);
  if (c.epi === 'biasCol') body = bin('+', body, ld(2, { j: 1 }));
  if (c.epi === 'biasRow') body = bin('+', ld(2, { i: 1 }), body);
  if (c.epi === 'reluBias') body = un('relu', bin('+', body, ld(2, { j: 1 })));
  if (c.epi === 'add') body = bin('-', body, ld(3, o.st));
  if (c.epi === 'gelu') body = un('gelu', body);
  const loops = Object.fromEntries(c.oOrder.map((v) => [v, ext[v]!]));
  return plan({
    leaves: [
      ['A', [a.size + 1]],
      ['B', [b.size]],
      ['bias', [Math.max(c.M, c.N)]],
      ['Y', [o.size]],
    ],
    temps: [[o.size]],
    kernels: [kernel('mm', 4, loops, body, [0, 1, 2, 3])],
    outputs: [['y', 4]],
    args: ['s'],
  });
}

const perm = (xs: string[]) => fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length });

const arbMM: fc.Arbitrary<MM & { seed: number }> = fc
  .record({
    M: fc.integer({ min: 1, max: 24 }),
    K: fc.integer({ min: 1, max: 24 }),
    N: fc.integer({ min: 1, max: 24 }),
    nb: fc.integer({ min: 1, max: 3 }),
    fold: fc.boolean(),
    padA: fc.constantFrom(0, 0, 0, 3),
    splitK: fc.boolean(),
    scale: fc.constantFrom('none', 'const', 'arg', 'neg', 'div', 'inside'),
    epi: fc.constantFrom('none', 'biasCol', 'biasRow', 'reluBias', 'add', 'gelu'),
    canonical: fc.boolean(),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  })
  .chain((r) => {
    const withB = (xs: string[]) => (r.nb > 1 ? ['b', ...xs] : xs);
    const aVars = withB(['i', 'k']);
    const bVars = r.fold || r.nb === 1 ? ['k', 'j'] : withB(['k', 'j']);
    const oVars = withB(['i', 'j']);
    const orders = r.canonical ? fc.constant([aVars, bVars, oVars]) : fc.tuple(perm(aVars), perm(bVars), perm(oVars));
    return orders.map(([aOrder, bOrder, oOrder]) => ({ ...r, aOrder, bOrder, oOrder }) as MM & { seed: number });
  });

// ---- elementwise with broadcast loads ----


const SAFE_UNARY: T.UnaryName[] = ['neg', 'exp', 'tanh', 'relu', 'sigmoid', 'gelu', 'gelu_erf', 'silu', 'abs', 'square', 'sin', 'cos', 'softplus'];
const POS_UNARY: T.UnaryName[] = ['log', 'sqrt', 'rsqrt', 'recip'];

/** a random elementwise expression over `leaves` (each: buffer and its broadcast load) */
function randomExpr(r: () => number, leaves: KExpr[], depth: number): KExpr {
  const pick = <X>(xs: X[]) => xs[Math.floor(r() * xs.length)]!;
  if (depth === 0 || r() < 0.2) return r() < 0.85 ? pick(leaves) : r() < 0.5 ? cst(Math.round(r() * 8 - 4) / 2) : arg('s');
  const x = r();
  if (x < 0.3) return un(pick(SAFE_UNARY), randomExpr(r, leaves, depth - 1));
  if (x < 0.4) return un(pick(POS_UNARY), bin('+', cst(1.5), un('square', randomExpr(r, leaves, depth - 1))));
  if (x < 0.45) return { k: 'unaryGrad', fn: pick(SAFE_UNARY), a: randomExpr(r, leaves, depth - 1) };
  const op = pick(['+', '-', '*', 'max', '/'] as const);
  const a = randomExpr(r, leaves, depth - 1), b = randomExpr(r, leaves, depth - 1);
  return op === '/' ? bin('/', a, bin('+', cst(2), un('square', b))) : bin(op, a, b);
}

function elementwisePlan(shape: number[], seed: number): KernelPlan {
  const r = prng(seed);
  const vars = shape.map((_, i) => `x${i}`);
  const ext = Object.fromEntries(vars.map((v, i) => [v, shape[i]!]));
  const leaves: [string, number[]][] = [];
  const loads: KExpr[] = [];
  for (let l = 0; l < 3; l++) {
    // a random subset of the axes (broadcast along the others), stored in a random order
    const sub = vars.filter(() => r() < 0.7);
    const order = [...sub].sort(() => r() - 0.5);
    const st = storage(order, ext);
    leaves.push([`in${l}`, [st.size]]);
    loads.push(ld(l, st.st));
  }
  const body = randomExpr(r, loads, 4);
  return plan({
    leaves,
    temps: [[shape.reduce((p, x) => p * x, 1)]],
    kernels: [kernel('ew', 3, ext, body, [0, 1, 2])],
    outputs: [['y', 3]],
    args: ['s'],
  });
}

// ---- reductions: softmax (nested reduce), sum / max / mean over any axis set ----

function softmaxPlan(R: number, C: number, transposed: boolean, axis: 0 | 1): KernelPlan {
  const x = (i: string, j: string) => ld(0, transposed ? { [i]: 1, [j]: R } : { [i]: C, [j]: 1 });
  // softmax of X[i, :] (axis 1) or X[:, j] (axis 0)
  const at = (free: string, red: string) => (axis === 1 ? x(free, red) : x(red, free));
  const [freeV, redV, redExt] = axis === 1 ? (['i', 'j', C] as const) : (['j', 'i', R] as const);
  const m = max({ k: redExt }, at(freeV, 'k'));
  const e = (v: string) => un('exp', bin('-', at(freeV, v), m));
  const body = bin('/', e(redV), sum({ k2: redExt }, e('k2')));
  return plan({
    leaves: [['X', [R * C]]],
    temps: [[R * C]],
    kernels: [kernel('softmax', 1, { i: R, j: C }, body, [0])],
    outputs: [['y', 1]],
  });
}

function reductionPlan(shape: number[], redMask: number[], op: 'sum' | 'max' | 'mean' | 'sumsq' | 'logsumexp', seed: number): KernelPlan {
  const vars = shape.map((_, i) => `a${i}`);
  const st = strides(vars, shape);
  const out = vars.filter((_, i) => !redMask.includes(i));
  const red = vars.filter((_, i) => redMask.includes(i));
  const redExt = Object.fromEntries(red.map((v) => [v, shape[vars.indexOf(v)]!]));
  const x = ld(0, st);
  const n = red.reduce((p, v) => p * redExt[v]!, 1);
  let body: KExpr;
  if (op === 'sum') body = sum(redExt, x);
  else if (op === 'max') body = max(redExt, x);
  else if (op === 'mean') body = bin('*', sum(redExt, x), cst(1 / n));
  else if (op === 'sumsq') body = un('sqrt', sum(redExt, bin('*', x, x)));
  else body = un('log', sum(redExt, un('exp', x)));
  void seed;
  const loops = Object.fromEntries(out.map((v) => [v, shape[vars.indexOf(v)]!]));
  return plan({
    leaves: [['X', [shape.reduce((p, v) => p * v, 1)]]],
    temps: [[out.reduce((p, v) => p * loops[v]!, 1)]],
    kernels: [kernel('reduce', 1, loops, body, [0])],
    outputs: [['y', 1]],
  });
}

describe('cpu codegen', () => {
  beforeAll(async () => {
    await cpuGemmReady();
  });

  it('a plain matmul takes the gemm path (strategyOf, and gemm is really called)', () => {
    const k = kernel('mm', 2, { i: 64, j: 48 }, sum({ k: 40 }, bin('*', ld(0, { i: 40, k: 1 }), ld(1, { k: 48, j: 1 }))), [0, 1]);
    expect(strategyOf(k)).toBe('gemm');
    const m = matchGemm(k)!;
    expect([m.M, m.K, m.N, m.L.trans, m.R.trans, m.cDirect, m.epilogue]).toEqual([64, 40, 48, false, false, true, null]);
    let calls = 0;
    const spy: GemmFn = (...a) => {
      calls++;
      gemm(...a);
    };
    // The gemm is injected (the codegen stays browser-safe): a GEMM kernel without one is refused.
    expect(() => compileCpuKernel(k)).toThrow(/pass opts\.gemm/);
    expect(compileCpuKernel(k, { strategy: 'loops' }).strategy).toBe('loops');
    const c = compileCpuKernel(k, { gemm: spy });
    expect(c.strategy).toBe('gemm');
    const A = rand(64 * 40, 1), Bm = rand(40 * 48, 2), out = new Float32Array(64 * 48);
    c.run([A, Bm, out]);
    expect(calls).toBe(1);
    let worst = 0;
    for (let i = 0; i < 64; i++) {
      for (let j = 0; j < 48; j++) {
        let s = 0;
        for (let kk = 0; kk < 40; kk++) s += A[i * 40 + kk]! * Bm[kk * 48 + j]!;
        worst = Math.max(worst, Math.abs(s - out[i * 48 + j]!));
      }
    }
    expect(worst).toBeLessThan(1e-4);
    // tiny shapes stay in loops (a gemm call costs more than the whole loop nest)
    const tiny = kernel('mm', 2, { i: 4, j: 4 }, sum({ k: 4 }, bin('*', ld(0, { i: 4, k: 1 }), ld(1, { k: 4, j: 1 }))));
    expect(strategyOf(tiny)).toBe('loops');
    expect(strategyOf(tiny, { strategy: 'gemm' })).toBe('gemm');
  });

  it('recognises transposed operands, transposed outputs, batches and folded batches without copies', () => {
    const cases: [string[], string[], string[], boolean, boolean][] = [
      // A order, B order, out order, transA, transB
      [['i', 'k'], ['k', 'j'], ['i', 'j'], false, false],
      [['k', 'i'], ['k', 'j'], ['i', 'j'], true, false],
      [['i', 'k'], ['j', 'k'], ['i', 'j'], false, true],
      [['k', 'i'], ['j', 'k'], ['i', 'j'], true, true],
      [['b', 'i', 'k'], ['b', 'k', 'j'], ['b', 'i', 'j'], false, false],
      [['b', 'i', 'k'], ['k', 'j'], ['b', 'i', 'j'], false, false], // b folds into M
    ];
    for (const [aOrder, bOrder, oOrder, tA, tB] of cases) {
      const p = mmPlan({ M: 20, K: 24, N: 16, nb: 3, fold: !bOrder.includes('b'), aOrder, bOrder, oOrder, padA: 0, splitK: false, scale: 'none', epi: 'none' });
      const m = matchGemm(p.kernels[0]!)!;
      expect(strategyOf(p.kernels[0]!), `${aOrder}|${bOrder}|${oOrder}`).toBe('gemm');
      expect([m.L.trans, m.R.trans]).toEqual([tA, tB]);
      expect(m.L.offsets.length).toBe(bOrder.includes('b') ? 3 : 1);
      if (aOrder.includes('b') && !bOrder.includes('b')) expect(m.M).toBe(60);
      agree(p, 5, { s: 0.5 });
    }
  });

  it('picks the cheaper orientation: Cᵀ = R·L into scratch + a transposing pass instead of a transposed B', () => {
    // LoRA's (x·A)ᵀ as the optimiser emits it: out[q, n] = Σ_d A[d, q] · x[n, d], q = 16, n = 1024, d = 768.
    // As laid out, gemm would be 16×768 @ (1024×768)ᵀ: transB, packed by gemm in JS (4.7 ms measured);
    // as x·A it is 1024×768 @ 768×16 with nothing transposed (1.9 ms) plus a 16×1024 transpose (33 µs).
    const k = kernel('xaT', 2, { q: 16, n: 1024 }, sum({ d: 768 }, bin('*', ld(0, { d: 16, q: 1 }), ld(1, { n: 768, d: 1 }))), [0, 1]);
    const m = matchGemm(k)!;
    expect([m.M, m.K, m.N, m.L.buf, m.L.trans, m.R.trans, m.cDirect]).toEqual([1024, 768, 16, 1, false, false, false]);
    expect(strategyOf(k)).toBe('gemm-packed');
    // the same decision at a size the reference can check
    const small = mmPlan({ M: 8, K: 40, N: 48, nb: 1, fold: false, aOrder: ['i', 'k'], bOrder: ['k', 'j'], oOrder: ['j', 'i'], padA: 0, splitK: false, scale: 'none', epi: 'none' });
    agree(small, 21);
  });

  it('matmul with a bias + relu epilogue and a run-time scale: gemm alpha + one in-place pass', () => {
    const body = un('relu', bin('+', bin('*', arg('s'), sum({ k: 32 }, bin('*', ld(0, { i: 32, k: 1 }), ld(1, { k: 40, j: 1 })))), ld(2, { j: 1 })));
    const p = plan({
      leaves: [['x', [48 * 32]], ['W', [32 * 40]], ['b', [40]]],
      temps: [[48 * 40]],
      kernels: [kernel('lin', 3, { i: 48, j: 40 }, body, [0, 1, 2])],
      outputs: [['y', 3]],
      args: ['s'],
    });
    const m = matchGemm(p.kernels[0]!)!;
    expect(m.alpha).toEqual(arg('s'));
    expect(m.cDirect).toBe(true);
    expect(m.epilogue).not.toBeNull();
    expect(strategyOf(p.kernels[0]!)).toBe('gemm');
    agree(p, 3, { s: -1.5 });
  });

  it('layouts gemm cannot read: packed operands, scratch results, and loops when there is no GEMM core', () => {
    // A as [i, b, k] (heads interleaved): packed; the output [i, b, j]: gemm into scratch, epilogue scatters
    const heads = mmPlan({ M: 24, K: 16, N: 16, nb: 3, fold: false, aOrder: ['i', 'b', 'k'], bOrder: ['b', 'k', 'j'], oOrder: ['i', 'b', 'j'], padA: 0, splitK: false, scale: 'none', epi: 'none' });
    const m = matchGemm(heads.kernels[0]!)!;
    expect([m.L.direct, m.R.direct, m.cDirect]).toEqual([false, true, false]);
    expect(strategyOf(heads.kernels[0]!)).toBe('gemm-packed');
    agree(heads, 11);
    // a row slice of a wider A (row stride K + 3): packed
    const slice = mmPlan({ M: 30, K: 20, N: 16, nb: 1, fold: false, aOrder: ['i', 'k'], bOrder: ['k', 'j'], oOrder: ['i', 'j'], padA: 3, splitK: false, scale: 'none', epi: 'none' });
    expect(strategyOf(slice.kernels[0]!)).toBe('gemm-packed');
    agree(slice, 12);
    // not a GEMM: a product of three loads, a sum over one operand only, a core inside a reduce
    // binding one of its free variables, a max-reduce, a sum of a sum. (A diagonal operand is one:
    // the pack gathers it.)
    const x = ld(0, { i: 20, k: 1 }), w = ld(1, { k: 20, j: 1 }), g = ld(2, { k: 1 });
    const shapes: [string, number[]][] = [['X', [400]], ['W', [400]], ['g', [20]]];
    const bodies: [KExpr, string][] = [
      [sum({ k: 20 }, bin('*', bin('*', x, w), g)), 'loops'],
      [sum({ k: 20 }, bin('*', x, ld(1, { j: 1 }))), 'loops'],
      [max({ m: 20 }, sum({ k: 20 }, bin('*', ld(0, { m: 20, k: 1 }), w))), 'loops'],
      [max({ k: 20 }, bin('*', x, w)), 'loops'],
      [sum({ k: 20 }, bin('+', x, w)), 'loops'],
      [sum({ k: 20 }, bin('*', ld(0, { k: 21 }), w)), 'gemm-packed'],
    ];
    for (const [body, forced] of bodies) {
      const p = plan({ leaves: shapes, temps: [[400]], kernels: [kernel('odd', 3, { i: 20, j: 20 }, body, [0, 1, 2])], outputs: [['y', 3]] });
      expect(strategyOf(p.kernels[0]!)).toBe('loops'); // 800 FLOPs: below the gemm threshold anyway
      expect(strategyOf(p.kernels[0]!, { strategy: 'gemm' })).toBe(forced);
      agree(p, 13);
    }
  });

  it('random matmul layouts, batches, epilogues and scales equal the reference under every strategy', () => {
    let gemms = 0;
    fc.assert(
      fc.property(arbMM, (c) => {
        const used = agree(mmPlan(c), c.seed, { s: 0.75 }, { rtol: 1e-4, atol: 1e-4 * (1 + c.K / 8) });
        if (used.some((u) => u !== 'loops')) gemms++;
      }),
      { seed: 424242, numRuns: 150 },
    );
    expect(gemms).toBeGreaterThan(100); // forced 'gemm' runs on every matmul case
  });

  const native = loadNativeBlas();
  it.skipIf(!native.ok)(`the same on OpenBLAS, a kernel's whole batch in one sgemmBatch call${native.ok ? '' : ` (skipped: ${native.reason})`}`, () => {
    if (!native.ok) return;
    const { gemm: g, gemmBatch } = native.blas;
    let batched = 0, strided = 0, prefilled = 0;
    fc.assert(
      fc.property(arbMM, (c) => {
        const p = mmPlan(c);
        agree(p, c.seed, { s: 0.75 }, { rtol: 1e-4, atol: 1e-4 * (1 + c.K / 8) }, { gemm: g, gemmBatch });
        if (c.nb > 1 && !c.fold) batched++;
        const m = matchGemm(p.kernels[0]!, { strided: true })!;
        if ((m.L.direct && m.L.ld !== (m.L.trans ? m.M : m.K)) || (m.R.direct && m.R.ld !== (m.R.trans ? m.K : m.N)) || (m.cDirect && m.ldc !== m.N)) strided++;
        if (m.prefill) prefilled++;
      }),
      { seed: 424243, numRuns: 120 },
    );
    expect(batched).toBeGreaterThan(20);
    expect(prefilled).toBeGreaterThan(10); // bias epilogues done by the native call
    expect(strided).toBeGreaterThan(20); // operands or results read / written in place with a leading dimension
  });

  it.skipIf(!native.ok)(`on OpenBLAS, a linear layer's bias and residual are written into C before the product: no epilogue pass${native.ok ? '' : ` (skipped: ${native.reason})`}`, () => {
    if (!native.ok) return;
    const { gemm: g, gemmBatch } = native.blas;
    const nat = { gemm: g, gemmBatch };
    // y[b, t, j] = Σ_k x[b, t, k] · W[k, j] + bias[j] + res[b, t, j], and 0.5 · (…) + bias[j]
    const x = ld(0, { b: 7 * 20, t: 20, k: 1 }), W = ld(1, { k: 24, j: 1 }), bias = ld(2, { j: 1 }), res = ld(3, { b: 7 * 24, t: 24, j: 1 });
    const core = sum({ k: 20 }, bin('*', x, W));
    const bodies: [KExpr, number[][]][] = [
      [bin('+', bin('+', core, bias), res), [[2, 0, 0, 1], [3, 0, 24, 1]]],
      [bin('+', res, bin('*', cst(0.5), core)), [[3, 0, 24, 1]]],
      [bin('+', bias, core), [[2, 0, 0, 1]]],
    ];
    for (const [body, terms] of bodies) {
      const p = plan({
        leaves: [['x', [3 * 7 * 20]], ['W', [20 * 24]], ['bias', [24]], ['res', [3 * 7 * 24]]],
        temps: [[3 * 7 * 24]],
        kernels: [kernel('lin', 4, { b: 3, t: 7, j: 24 }, body, [0, 1, 2, 3])],
        outputs: [['y', 4]],
      });
      const m = matchGemm(p.kernels[0]!, { strided: true })!;
      expect(m.epilogue).toBeNull();
      expect(m.prefill!.map((t) => [t.buf, t.offset, t.rowStride, t.colStride])).toEqual(terms);
      expect(matchGemm(p.kernels[0]!)!.prefill).toBeNull(); // the wasm gemm keeps its epilogue pass
      agree(p, 17, {}, undefined, nat);
    }
    // not additive, or a term C cannot index: the epilogue stays
    const relu = plan({
      leaves: [['x', [3 * 7 * 20]], ['W', [20 * 24]], ['bias', [24]], ['res', [3 * 7 * 24]]],
      temps: [[3 * 7 * 24]],
      kernels: [kernel('lin', 4, { b: 3, t: 7, j: 24 }, un('relu', bin('+', core, bias)), [0, 1, 2, 3])],
      outputs: [['y', 4]],
    });
    expect(matchGemm(relu.kernels[0]!, { strided: true })!.prefill).toBeNull();
    const diag = plan({
      leaves: [['x', [3 * 7 * 20]], ['W', [20 * 24]], ['bias', [24]], ['res', [24 * 24]]],
      temps: [[3 * 7 * 24]],
      kernels: [kernel('lin', 4, { b: 3, t: 7, j: 24 }, bin('+', core, ld(3, { t: 25, j: 1 })), [0, 1, 2, 3])],
      outputs: [['y', 4]],
    });
    expect(matchGemm(diag.kernels[0]!, { strided: true })!.prefill).toBeNull(); // rows (b, t) do not fuse in it
    agree(diag, 18, {}, undefined, nat);
  });

  it.skipIf(!native.ok)(`on OpenBLAS, per-head slices and interleaved results need no packing: leading dimensions${native.ok ? '' : ` (skipped: ${native.reason})`}`, () => {
    if (!native.ok) return;
    const { gemm: g, gemmBatch } = native.blas;
    const nat = { gemm: g, gemmBatch };
    // attention's heads: A [i, b, k] (a head is a 24×16 slice, row stride 3·16), out [i, b, j] (ldc 3·16)
    const heads = mmPlan({ M: 24, K: 16, N: 16, nb: 3, fold: false, aOrder: ['i', 'b', 'k'], bOrder: ['b', 'k', 'j'], oOrder: ['i', 'b', 'j'], padA: 0, splitK: false, scale: 'none', epi: 'none' });
    const m = matchGemm(heads.kernels[0]!, { strided: true })!;
    expect([m.L.direct, m.L.ld, m.R.direct, m.cDirect, m.ldc, m.epilogue]).toEqual([true, 48, true, true, 48, null]);
    expect(m.L.offsets).toEqual([1, 17, 33]); // (mmPlan stores A from element 1)
    expect(m.cOffsets).toEqual([0, 16, 32]);
    expect(strategyOf(heads.kernels[0]!, nat)).toBe('gemm');
    expect(strategyOf(heads.kernels[0]!)).toBe('gemm-packed'); // the wasm gemm takes no leading dimensions
    agree(heads, 11, {}, undefined, nat);
    // B per head transposed in place ([j, b, k]: Kᵀ of attention's scores), with a bias epilogue
    const scores = mmPlan({ M: 20, K: 16, N: 18, nb: 3, fold: false, aOrder: ['b', 'i', 'k'], bOrder: ['j', 'b', 'k'], oOrder: ['b', 'i', 'j'], padA: 0, splitK: false, scale: 'const', epi: 'biasCol' });
    const ms = matchGemm(scores.kernels[0]!, { strided: true })!;
    expect([ms.R.direct, ms.R.trans, ms.R.ld, ms.cDirect]).toEqual([true, true, 48, true]);
    agree(scores, 14, {}, undefined, nat);
    // a row slice of a wider A (row stride K + 3), transposed or not
    for (const aOrder of [['i', 'k'], ['k', 'i']]) {
      const slice = mmPlan({ M: 30, K: 20, N: 16, nb: 1, fold: false, aOrder, bOrder: ['k', 'j'], oOrder: ['i', 'j'], padA: 3, splitK: false, scale: 'none', epi: 'add' });
      const ml = matchGemm(slice.kernels[0]!, { strided: true })!;
      expect([ml.L.direct, ml.L.ld]).toEqual([true, aOrder[1] === 'k' ? 23 : 33]);
      expect(strategyOf(slice.kernels[0]!, nat)).toBe('gemm');
      agree(slice, 12, { s: 0.5 }, undefined, nat);
    }
  });

  it('random elementwise kernels with broadcast loads equal the reference', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 0, maxLength: 3 }), fc.integer({ min: 1, max: 1 << 30 }), (shape, seed) => {
        const used = agree(elementwisePlan(shape, seed), seed, { s: 0.3 }, { rtol: 1e-5, atol: 1e-5 });
        expect(new Set(used)).toEqual(new Set(['loops']));
      }),
      { seed: 7, numRuns: 200 },
    );
  });

  it('softmax via nested reduces: correct on both axes and layouts, max and sum hoisted out of the column loop', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.boolean(), fc.constantFrom(0 as const, 1 as const), (R, C, tr, axis) => {
        agree(softmaxPlan(R, C, tr, axis), R * 31 + C, {}, { rtol: 1e-5, atol: 1e-7 });
      }),
      { seed: 99, numRuns: 60 },
    );
    const src = compileCpuKernel(softmaxPlan(8, 16, false, 1).kernels[0]!, { gemm }).source;
    expect(src.match(/Math\.max/g)?.length).toBe(1); // one max per row (shared by numerator and sum)
    expect(src.match(/Math\.exp/g)?.length).toBe(5); // exp in the sum loop (unrolled ×4) and in the output loop
    expect(src).not.toMatch(/\[[^\]]*\*[^\]]*\]/); // no multiplications in any index
  });

  it('a reduce written twice with different bound variables is computed once (softmax as fusion writes it)', () => {
    // the max in the numerator binds k, the one inside the sum binds k3 (separate IR nodes)
    const R = 8, C = 16;
    const x = (i: string, j: string) => ld(0, { [i]: C, [j]: 1 });
    const e = (v: string, mv: string) => un('exp', bin('-', x('i', v), max({ [mv]: C }, x('i', mv))));
    const body = bin('/', e('j', 'k'), sum({ k2: C }, e('k2', 'k3')));
    const p = plan({ leaves: [['X', [R * C]]], temps: [[R * C]], kernels: [kernel('softmax', 1, { i: R, j: C }, body, [0])], outputs: [['y', 1]] });
    agree(p, 5, {}, { rtol: 1e-5, atol: 1e-7 });
    expect(compileCpuKernel(p.kernels[0]!).source.match(/Math\.max/g)?.length).toBe(1);
  });

  it('reduce keys: equal up to renaming bound variables, different when the renaming changes the meaning', () => {
    const k = (e: KExpr) => exprKey(e);
    // Σ_k x[i, k] and Σ_m x[i, m]: the same
    expect(k(sum({ k: 4 }, ld(0, { i: 4, k: 1 })))).toBe(k(sum({ m: 4 }, ld(0, { i: 4, m: 1 }))));
    // ... but not Σ_k x[k, k] against Σ_k x[i, k]
    expect(k(sum({ k: 4 }, ld(0, { k: 5 })))).not.toBe(k(sum({ k: 4 }, ld(0, { i: 4, k: 1 }))));
    // nested: Σ_a Σ_b x[a, b] ≠ Σ_a Σ_b x[b, b]; Σ_a Σ_b x[a, b] = Σ_c Σ_d x[c, d]
    const nest = (o: string, n: string, at: Record<string, number>) => sum({ [o]: 3 }, sum({ [n]: 3 }, ld(0, at)));
    expect(k(nest('a', 'b', { a: 3, b: 1 }))).toBe(k(nest('c', 'd', { c: 3, d: 1 })));
    expect(k(nest('a', 'b', { a: 3, b: 1 }))).not.toBe(k(nest('a', 'b', { b: 4 })));
    // a free variable keeps its name: Σ_k x[i, k] ≠ Σ_k x[j, k]
    expect(k(sum({ k: 4 }, ld(0, { i: 4, k: 1 })))).not.toBe(k(sum({ k: 4 }, ld(0, { j: 4, k: 1 }))));
    // an argument that shares a bound variable's name is not renamed with it
    expect(k(sum({ k: 4 }, bin('*', ld(0, { k: 1 }), arg('k'))))).not.toBe(k(sum({ m: 4 }, bin('*', ld(0, { m: 1 }), arg('m')))));
  });

  it('a reduce broadcast along an outer loop is computed once per value (DoRA column norms)', () => {
    // out[i, j] = (m[j] + sqrt(Σ_r W[r, j]²)) · s[j]: the norm depends on j only, j is the inner loop
    const W = ld(0, { r: 24, j: 1 });
    const body = bin('*', bin('+', ld(1, { j: 1 }), un('sqrt', sum({ r: 30 }, bin('*', W, W)))), ld(2, { j: 1 }));
    const p = plan({
      leaves: [['W', [30 * 24]], ['m', [24]], ['s', [24]]],
      temps: [[40 * 24]],
      kernels: [kernel('norms', 3, { i: 40, j: 24 }, body, [0, 1, 2])],
      outputs: [['y', 3]],
    });
    agree(p, 8);
    const src = compileCpuKernel(p.kernels[0]!, { gemm }).source;
    expect(src).toContain('new Float64Array(24)');
    // the reduce loop (stepping over r) is emitted once, before the output loops
    expect(src.indexOf('+= 96')).toBeLessThan(src.indexOf('< 40;'));
  });

  it('a column reduction is interchanged: rows streamed into a Float64Array accumulator', () => {
    // out[j] = Σ_n x[n, j]² (a bias gradient / column norm): n is strided, j contiguous
    const x = ld(0, { n: 37, j: 1 });
    const p = plan({ leaves: [['x', [29 * 37]]], temps: [[37]], kernels: [kernel('delete', 1, { j: 37 }, sum({ n: 29 }, bin('*', x, x)), [0])], outputs: [['y', 1]] });
    agree(p, 4, {}, { rtol: 1e-6, atol: 1e-6 });
    const src = compileCpuKernel(p.kernels[0]!, { gemm }).source;
    expect(src).toContain('.fill(0, 0, 0 + 37)');
    expect(src.indexOf('< 29;')).toBeLessThan(src.indexOf('< 37;')); // n loop outside the j loop
  });

  it('reductions over any axis set (sum, max, mean, norms, logsumexp) equal the reference', () => {
    const arb = fc
      .array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 })
      .chain((shape) =>
        fc.record({
          shape: fc.constant(shape),
          red: fc.subarray(shape.map((_, i) => i), { minLength: 1 }),
          op: fc.constantFrom('sum', 'max', 'mean', 'sumsq', 'logsumexp') as fc.Arbitrary<'sum' | 'max' | 'mean' | 'sumsq' | 'logsumexp'>,
          seed: fc.integer({ min: 1, max: 1 << 30 }),
        }),
      );
    fc.assert(
      fc.property(arb, ({ shape, red, op, seed }) => {
        agree(reductionPlan(shape, red, op, seed), seed, {}, { rtol: 1e-5, atol: 1e-5 });
      }),
      { seed: 2024, numRuns: 100 },
    );
  });

  it('a chain of kernels (matmul → softmax → matmul) through temps', () => {
    const S = 24, D = 16;
    const q = ld(0, { i: D, d: 1 }), kT = ld(1, { j: D, d: 1 });
    const scores = kernel('scores', 3, { i: S, j: S }, bin('*', cst(0.25), sum({ d: D }, bin('*', q, kT))), [0, 1]);
    const s = (j: string) => ld(3, { i: S, [j]: 1 });
    const m = max({ m: S }, s('m'));
    const e = (j: string) => un('exp', bin('-', s(j), m));
    const probs = kernel('probs', 4, { i: S, j: S }, bin('/', e('j'), sum({ n: S }, e('n'))), [3]);
    const out = kernel('out', 5, { i: S, d: D }, sum({ j: S }, bin('*', ld(4, { i: S, j: 1 }), ld(2, { j: D, d: 1 }))), [4, 2]);
    const p = plan({
      leaves: [['Q', [S * D]], ['K', [S * D]], ['V', [S * D]]],
      temps: [[S * S], [S * S], [S * D]],
      kernels: [scores, probs, out],
      outputs: [['y', 5]],
    });
    expect(strategyOf(scores)).toBe('gemm');
    expect(matchGemm(scores)!.R.trans).toBe(true);
    expect(strategyOf(probs)).toBe('loops');
    expect(strategyOf(out)).toBe('gemm');
    agree(p, 77);
  });

  it('degenerate extents (0 and 1) and scalar outputs', () => {
    const p0 = plan({
      leaves: [['X', [0]]],
      temps: [[3]],
      kernels: [kernel('empty', 1, { i: 3 }, sum({ k: 0 }, ld(0, { k: 1 })), [0])],
      outputs: [['y', 1]],
    });
    agree(p0, 1);
    const dot = plan({
      leaves: [['a', [50]], ['b', [50]]],
      temps: [[1]],
      kernels: [kernel('dot', 2, {}, sum({ k: 50 }, bin('*', ld(0, { k: 1 }), ld(1, { k: 1 }))), [0, 1])],
      outputs: [['y', 2]],
    });
    agree(dot, 2);
    const ones = mmPlan({ M: 1, K: 1, N: 1, nb: 1, fold: false, aOrder: ['i', 'k'], bOrder: ['k', 'j'], oOrder: ['i', 'j'], padA: 0, splitK: false, scale: 'arg', epi: 'reluBias' });
    agree(ones, 3, { s: 2 });
  });
});

describe('fast tanh / GELU helpers of the generated loops', () => {
  // a grid over [-20, 20], the clamp edges, and the special values
  const xs = Float32Array.from([...Array.from({ length: 4001 }, (_, i) => (i - 2000) / 100), 8.999, 9.001, -8.999, -9.001, 1e-30, -0, 0, 1e30, -1e30, Infinity, -Infinity, NaN]);
  const run = (body: KExpr) => {
    const p = plan({ leaves: [['x', [xs.length]]], temps: [[xs.length]], kernels: [kernel('f', 1, { i: xs.length }, body, [0])], outputs: [['y', 1]] });
    const k = compileCpuKernel(p.kernels[0]!);
    const B = [xs.slice(), new Float32Array(xs.length)];
    k.run(B);
    return { y: B[1]!, source: k.source };
  };
  const x = ld(0, { i: 1 });
  // [name, expression, float64 formula, helper, absolute tolerance (GELU′ amplifies tanh's 3e-8 by up to ~5)]
  const cases: [string, KExpr, (v: number) => number, string, number][] = [
    ['tanh', un('tanh', x), Math.tanh, 'tanh_(', 1e-7],
    ['tanh′', { k: 'unaryGrad', fn: 'tanh', a: x }, (v) => 1 - Math.tanh(v) ** 2, 'dtanh_(', 1e-7],
    ['gelu', un('gelu', x), (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))), 'gelu_(', 1e-7],
    ['gelu′', { k: 'unaryGrad', fn: 'gelu', a: x }, (v) => {
      const t = Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3));
      return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * Math.sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * v * v);
    }, 'dgelu_(', 2e-7],
  ];
  for (const [name, body, exact, helper, atol] of cases)
    it(`${name} is within ${atol} absolute (+ float32 rounding) of the Math.tanh formula, special values included`, () => {
      const { y, source } = run(body);
      expect(source).toContain(helper); // the fast helper, not Math.tanh
      expect(source).not.toContain('Math.tanh');
      for (let i = 0; i < xs.length; i++) {
        const want = Math.fround(exact(xs[i]!));
        if (Number.isNaN(want)) {
          expect(y[i], `${name}(${xs[i]})`).toBeNaN();
          continue;
        }
        if (!Number.isFinite(want)) {
          expect(y[i], `${name}(${xs[i]})`).toBe(want);
          continue;
        }
        if (want === 0) expect(Object.is(y[i], want) || Math.abs(y[i]!) < 1e-30, `${name}(${xs[i]}) = ${y[i]}, want ${want}`).toBe(true);
        expect(Math.abs(y[i]! - want), `${name}(${xs[i]}) = ${y[i]}, want ${want}`).toBeLessThanOrEqual(1.2e-7 * Math.abs(want) + atol);
      }
    });
});

describe('kernels of the same form share one compiled function', () => {
  // a constant no other test uses, so the forms here are new to this process's factory cache
  const c = cst(0.123456789);
  // y = relu(a·b + c) + (column sum of a)·c, over [6, 5]: loads, a helper, a materialised reduce
  const body = (a: number, b: number) =>
    bin('+', un('relu', bin('+', bin('*', ld(a, { i: 5, j: 1 }), ld(b, { i: 5, j: 1 })), c)), bin('*', sum({ r: 6 }, ld(a, { r: 5, j: 1 })), c));
  const want = (a: Float32Array, b: Float32Array) =>
    Array.from({ length: 30 }, (_, q) => {
      let col = 0;
      for (let r = 0; r < 6; r++) col += a[r * 5 + (q % 5)]!;
      return Math.fround(Math.max(0, a[q]! * b[q]! + 0.123456789) + col * 0.123456789);
    });

  it('two kernels that differ only in buffer ids and kernel number: one factory, each computes its own buffers', () => {
    const k1 = kernel('k3_add_L7', 2, { i: 6, j: 5 }, body(0, 1), [0, 1]);
    const k2 = kernel('k41_add_L7', 5, { i: 6, j: 5 }, body(3, 4), [3, 4]);
    const f1 = renderKernel(k1), f2 = renderKernel(k2);
    expect(f2.source).toBe(f1.source);
    expect(f1.ids).toEqual([0, 1, 2]);
    expect(f2.ids).toEqual([3, 4, 5]);
    expect(f1.source).not.toMatch(/B\[\d/); // no buffer id baked in
    const before = kernelFactoriesCompiled();
    const c1 = compileCpuKernel(k1), c2 = compileCpuKernel(k2);
    expect(kernelFactoriesCompiled()).toBe(before); // made on first use (ready, run or source)
    c1.ready();
    c2.ready();
    expect(kernelFactoriesCompiled() - before).toBe(1);
    const B = [rand(30, 1), rand(30, 2), new Float32Array(30), rand(30, 3), rand(30, 4), new Float32Array(30)];
    c1.run(B);
    c2.run(B);
    expect(Array.from(B[2]!)).toEqual(want(B[0]!, B[1]!));
    expect(Array.from(B[5]!)).toEqual(want(B[3]!, B[4]!));
    // buffers are read at each call: swapped arrays are used (the executable's assign swaps them)
    [B[0], B[3]] = [B[3]!, B[0]!];
    c1.run(B);
    expect(Array.from(B[2]!)).toEqual(want(B[0]!, B[1]!));
    expect(c1.source).toContain('b0 = B[0], b1 = B[1], b2 = B[2]'); // the readable source names its buffers
  });

  it('a different shape, or one buffer read twice where another kernel reads two, is a different form', () => {
    const base = renderKernel(kernel('k1_add', 2, { i: 6, j: 5 }, body(0, 1), [0, 1])).source;
    expect(renderKernel(kernel('k1_add', 2, { i: 6, j: 4 }, body(0, 1), [0, 1])).source).not.toBe(base);
    const same = kernel('k2_add', 2, { i: 6, j: 5 }, body(0, 0), [0]);
    expect(renderKernel(same).source).not.toBe(base);
    const B = [rand(30, 5), new Float32Array(30), new Float32Array(30)];
    compileCpuKernel(same).run(B);
    expect(Array.from(B[2]!)).toEqual(want(B[0]!, B[0]!));
  });

  it('elementwise kernels over the output layout (and scalars) hold no shape: sizes share one factory', () => {
    // an AdamW-like update p·d + s·m over [6, 5] and over [64] (d, s: one-element step arguments)
    const upd = (p: number, m: number, d: number, s: number, out: number, loops: Record<string, number>, st: Record<string, number>) =>
      kernel(`k${out}_add`, out, loops, bin('+', bin('*', ld(p, st), ld(d, {})), bin('*', bin('*', ld(s, {}), ld(m, st)), c)), [p, m, d, s]);
    const k1 = upd(0, 1, 2, 3, 4, { i: 6, j: 5 }, { i: 5, j: 1 });
    const k2 = upd(5, 6, 2, 3, 7, { r: 64, one: 1 }, { r: 1, one: 7 }); // an extent-1 axis with any stride
    expect(renderKernel(k2).source).toBe(renderKernel(k1).source);
    expect(renderKernel(k1).n).toBe(30);
    expect(renderKernel(k2).n).toBe(64);
    const before = kernelFactoriesCompiled();
    const c1 = compileCpuKernel(k1), c2 = compileCpuKernel(k2);
    expect(kernelFactoriesCompiled()).toBe(before); // made on first use (ready, run or source)
    c1.ready();
    c2.ready();
    expect(kernelFactoriesCompiled() - before).toBe(1);
    const B = [rand(30, 1), rand(30, 2), Float32Array.of(0.9), Float32Array.of(-0.5), new Float32Array(30), rand(64, 3), rand(64, 4), new Float32Array(64)];
    c1.run(B);
    c2.run(B);
    const f = (p: number, m: number) => Math.fround(p * Math.fround(0.9) + Math.fround(-0.5) * m * 0.123456789);
    expect(Array.from(B[4]!)).toEqual(Array.from(B[0]!, (p, q) => f(p, B[1]![q]!)));
    expect(Array.from(B[7]!)).toEqual(Array.from(B[5]!, (p, q) => f(p, B[6]![q]!)));
    // a broadcast (bias along rows) or a transposed read keeps its shape in the source
    const bias = kernel('k1_add', 2, { i: 6, j: 5 }, bin('+', ld(0, { i: 5, j: 1 }), bin('*', ld(1, { j: 1 }), c)), [0, 1]);
    const tr = kernel('k1_add', 2, { i: 6, j: 5 }, bin('*', ld(0, { i: 1, j: 6 }), c), [0]);
    for (const k of [bias, tr]) {
      expect(renderKernel(k).n).toBe(0);
      expect(renderKernel(k).source).toMatch(/< 6;/);
    }
  });

  it('x·c and c·x render alike (the rewrites leave both orders in different blocks)', () => {
    const xc = kernel('k1_map', 1, { i: 7 }, bin('*', ld(0, { i: 1 }), c), [0]);
    const cx = kernel('k2_map', 1, { i: 7 }, bin('*', c, ld(0, { i: 1 })), [0]);
    expect(renderKernel(xc).source).toBe(renderKernel(cx).source);
  });

  it('GEMM kernels of the same form share their epilogue factories', async () => {
    await cpuGemmReady();
    // y[i, j] = relu(Σk A[i, k] B[k, j] + bias[j]) + c, on two sets of buffers
    const mm = (a: number, b: number, bias: number, out: number) =>
      kernel(`k${out}_einsum`, out, { i: 8, j: 12 }, bin('+', un('relu', bin('+', sum({ k: 16 }, bin('*', ld(a, { i: 16, k: 1 }), ld(b, { k: 12, j: 1 }))), ld(bias, { j: 1 }))), c), [a, b, bias]);
    const k1 = mm(0, 1, 2, 3), k2 = mm(4, 5, 6, 7);
    const before = kernelFactoriesCompiled();
    const c1 = compileCpuKernel(k1, { gemm, strategy: 'gemm' });
    c1.ready();
    const mid = kernelFactoriesCompiled();
    const c2 = compileCpuKernel(k2, { gemm, strategy: 'gemm' });
    c2.ready();
    expect(c1.strategy).not.toBe('loops');
    expect(mid - before).toBeGreaterThan(0); // the epilogue
    expect(kernelFactoriesCompiled()).toBe(mid); // shared by the second kernel
    const B = [rand(128, 1), rand(192, 2), rand(12, 3), new Float32Array(96), rand(128, 4), rand(192, 5), rand(12, 6), new Float32Array(96)];
    c1.run(B);
    c2.run(B);
    for (const [a, b, bias, out] of [[0, 1, 2, 3], [4, 5, 6, 7]] as const)
      for (let i = 0; i < 8; i++)
        for (let j = 0; j < 12; j++) {
          let acc = 0;
          for (let k = 0; k < 16; k++) acc += B[a]![i * 16 + k]! * B[b]![k * 12 + j]!;
          expect(B[out]![i * 12 + j]).toBeCloseTo(Math.max(0, acc + B[bias]![j]!) + 0.123456789, 4);
        }
  });
});
