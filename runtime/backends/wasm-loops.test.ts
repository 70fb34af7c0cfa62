// The WebAssembly loops renderer against the JS kernels and the float64 reference interpreter, on
// random kernels: loops of 1–3 output variables with extents 1–13 (vector loops, scalar tails, loops
// too short to vectorise), loads of their own input buffers over a random subset and order of the
// variables (contiguous, broadcast, transposed → gathered), constants, run-time arguments, unary
// functions and derivatives, + − * / max, and sum / max reduces over 1–2 variables (vectorised along
// their own variable, or with vector accumulators along the output's, or scalar), nested in the body.
//
// Tolerance: inputs are in [−1, 1) and every expression is built to stay O(1) (divisions by
// 1.5 + x², no logs of small numbers); float32 evaluation then errs by a few ulp per operation
// (the unary functions ≤ 8 ulp, wasm-unary.test.ts) and a sum of R terms by ≤ R·2^−24·Σ|terms|, so
// |got − ref| ≤ 1e-5·|ref| + 1e-5·(1 + R)·max|ref| with R the largest reduce extent holds with margin.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arg, bin, closeness, cst, kernel, plan, prng } from '../../compiler/codegen/cpu-testkit.ts';
import type { Kernel, KExpr } from '../../compiler/fuse/kernel-ir.ts';
import { runPlanReference } from '../../compiler/fuse/reference.ts';
import type * as T from '../tensor/index.ts';
import { type CpuExecutable, cpuBackend } from './cpu-exec.ts';
import { loopsEngine } from './cpu-wasm-loops.ts';
import { renderWasmKernel } from './wasm-loops.ts';
import { buildWasmLoops } from './wasm-loops-module.ts';

const rng = prng;

interface Built {
  kernel: Kernel;
  leaves: [string, number[]][];
  maxReduce: number;
}

const UNARY: T.UnaryName[] = ['exp', 'tanh', 'gelu', 'relu', 'square', 'abs', 'neg', 'heaviside'];
const GRAD: T.UnaryName[] = ['gelu', 'tanh', 'exp', 'relu', 'square', 'neg'];

/** a random kernel writing buffer 0 (see the header) */
function randomKernel(seed: number): Built {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <X>(xs: readonly X[]) => xs[Math.floor(r() * xs.length)]!;
  const nOut = int(1, 3);
  const loops = Array.from({ length: nOut }, (_, i) => ({ v: `i${i}`, extent: int(1, 13) }));
  const leaves: [string, number[]][] = [];
  let maxReduce = 0, nRed = 0;
  const load = (vars: { v: string; extent: number }[]): KExpr => {
    // a subset of the variables, shuffled: broadcast and transposed layouts
    const chosen = vars.filter(() => r() < 0.75);
    if (chosen.length === 0 && vars.length) chosen.push(vars[vars.length - 1]!);
    for (let i = chosen.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      if (r() < 0.4) [chosen[i], chosen[j]] = [chosen[j]!, chosen[i]!];
    }
    const shape = chosen.map((c) => c.extent);
    const buf = leaves.length + 1;
    leaves.push([`x${buf}`, shape]);
    const terms: { v: string; c: number }[] = [];
    let stride = 1;
    for (let i = chosen.length - 1; i >= 0; i--) {
      terms.push({ v: chosen[i]!.v, c: stride });
      stride *= chosen[i]!.extent;
    }
    return { k: 'load', buf, at: { terms, offset: 0 } };
  };
  const expr = (vars: { v: string; extent: number }[], depth: number): KExpr => {
    const c = r();
    if (depth <= 0 || c < 0.2) return r() < 0.85 ? load(vars) : r() < 0.5 ? cst(pick([0.5, -2, 3])) : arg('s');
    if (c < 0.4) return { k: 'unary', fn: pick(UNARY), a: expr(vars, depth - 1) };
    if (c < 0.5) return { k: 'unaryGrad', fn: pick(GRAD), a: expr(vars, depth - 1) };
    if (c < 0.75) {
      const op = pick(['+', '-', '*', 'max', '/'] as const);
      const a = expr(vars, depth - 1), b = expr(vars, depth - 1);
      return op === '/' ? bin('/', a, bin('+', cst(1.5), { k: 'unary', fn: 'square', a: b })) : bin(op, a, b);
    }
    // a reduce over 1–2 new variables
    const red = Array.from({ length: int(1, 2) }, () => ({ v: `r${nRed++}`, extent: int(1, 24) }));
    maxReduce = Math.max(maxReduce, red.reduce((p, v) => p * v.extent, 1));
    const body = expr([...vars, ...red], depth - 1);
    // max of an O(1) body, or a mean-like sum (scaled by 1/R so values stay O(1))
    if (r() < 0.4) return { k: 'reduce', op: 'max', vars: red, body };
    const R = red.reduce((p, v) => p * v.extent, 1);
    return bin('*', cst(1 / R), { k: 'reduce', op: 'sum', vars: red, body });
  };
  const body = expr(loops, int(1, 4));
  return { kernel: kernel('random', 0, Object.fromEntries(loops.map((l) => [l.v, l.extent])), body), leaves, maxReduce };
}

function planOf(b: Built) {
  const outShape = b.kernel.loops.map((l) => l.extent);
  // buffer 0 is the output (a temp); leaves are 1..n
  const p = plan({ leaves: [], temps: [outShape], kernels: [], outputs: [] });
  const leafPlan = plan({ leaves: b.leaves, temps: [], kernels: [], outputs: [] });
  const buffers = [p.buffers[0]!, ...leafPlan.buffers.map((x) => ({ ...x, id: x.id + 1 }))];
  const leaves = new Map([...leafPlan.leaves].map(([n, id]) => [n, id + 1]));
  b.kernel.inputs = [...leaves.values()];
  return { ...p, buffers, leaves, kernels: [b.kernel], outputs: new Map([['y', 0]]), args: ['s'] };
}

describe('wasm loops kernels', () => {
  it('random kernels give the reference result through wasm and through the JS kernels', async () => {
    let rendered = 0, runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
        const b = randomKernel(seed);
        const p = planOf(b);
        const feeds = new Map<string, Float32Array>();
        const f64 = new Map<string, T.Tensor>();
        let s = seed;
        for (const [name, shape] of b.leaves) {
          const r = rng(s++);
          const x = Float32Array.from({ length: shape.reduce((a, e) => a * e, 1) }, () => r() * 2 - 1);
          feeds.set(name, x);
          f64.set(name, { shape, data: Float64Array.from(x) });
        }
        const args = { s: 0.75 };
        const want = runPlanReference(p, f64, args).get('y')!.data;
        let scale = 1;
        for (const w of want) if (Number.isFinite(w)) scale = Math.max(scale, Math.abs(w));
        const tol = 1e-5 * (1 + b.maxReduce) * scale;
        const got: Float32Array[] = [];
        for (const loops of ['wasm', 'js'] as const) {
          const exe = (await cpuBackend({ loops }).prepare(p)) as CpuExecutable;
          if (loops === 'wasm' && exe.wasmKernels > 0) rendered++;
          if (loops === 'js') expect(exe.wasmKernels).toBe(0);
          for (const [n, x] of feeds) await exe.set(n, x);
          await exe.run(args);
          got.push(await exe.read('y'));
          exe.dispose();
        }
        runs++;
        for (const [i, g] of got.entries()) {
          const c = closeness(g, want, 1e-5, tol);
          expect(c.worst, `${i ? 'js' : 'wasm'} at ${c.at}: ${g[c.at]} vs ${want[c.at]}\n${JSON.stringify(b.kernel.loops)} ${JSON.stringify(b.kernel.body)}`).toBeLessThanOrEqual(1);
        }
        const c = closeness(got[0]!, got[1]!, 1e-5, tol);
        expect(c.worst, 'wasm vs js').toBeLessThanOrEqual(1);
      }),
      { seed: 20261129, numRuns: 150 },
    );
    // the property is about wasm: most random kernels must actually have run as wasm
    expect(rendered).toBeGreaterThan(runs * 0.6);
  });

  it('GEMM kernels: their packs and epilogues run as wasm passes, equal to the reference', async () => {
    // y = gelu(s·(x·Wᵀ) + b) (epilogue) and z = Σ_k xᵀ… with a packed (strided) operand, gemm forced
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 4, max: 21 }), fc.integer({ min: 1, max: 1e6 }), async (M, K, N, seed) => {
        const ld = (buf: number, terms: Record<string, number>): KExpr => ({ k: 'load', buf, at: { terms: Object.entries(terms).map(([v, c]) => ({ v, c })), offset: 0 } });
        const p = plan({
          leaves: [['x', [M, K]], ['W', [N, K], 'param'], ['b', [N], 'param']],
          temps: [[M, N]],
          kernels: [kernel('lin', 3, { i: M, j: N }, { k: 'unary', fn: 'gelu', a: bin('+', bin('*', arg('s'), { k: 'reduce', op: 'sum', vars: [{ v: 'k', extent: K }], body: bin('*', ld(0, { i: K, k: 1 }), ld(1, { j: K, k: 1 })) }), ld(2, { j: 1 })) }, [0, 1, 2])],
          outputs: [['y', 3]],
          args: ['s'],
        });
        const r = rng(seed);
        const feeds = new Map([...p.leaves].map(([n, id]) => [n, Float32Array.from({ length: p.buffers[id]!.size }, () => r() * 2 - 1)]));
        const f64 = new Map([...feeds].map(([n, x]) => [n, { shape: p.buffers[p.leaves.get(n)!]!.shape, data: Float64Array.from(x) }]));
        const want = runPlanReference(p, f64, { s: 0.5 }).get('y')!.data;
        // OpenBLAS where built (a memory of the executable's own), and the wasm gemm (its engine's shared memory)
        for (const blas of ['auto', 'wasm'] as const) {
          const exe = (await cpuBackend({ strategy: 'gemm', blas }).prepare(p)) as CpuExecutable;
          expect(exe.kernels[0]!.strategy).not.toBe('loops');
          expect(exe.wasmPasses, blas).toBeGreaterThan(0);
          for (const [n, x] of feeds) await exe.set(n, x);
          await exe.run({ s: 0.5 });
          const c = closeness(await exe.read('y'), want, 1e-5, 1e-5 * (1 + K));
          expect(c.worst, blas).toBeLessThanOrEqual(1);
          exe.dispose();
        }
      }),
      { seed: 7, numRuns: 30 },
    );
  });

  it('a kernel run over output rows [lo, hi) in pieces equals the whole run (the range a thread would take)', () => {
    const ld = (buf: number, terms: Record<string, number>): KExpr => ({ k: 'load', buf, at: { terms: Object.entries(terms).map(([v, c]) => ({ v, c })), offset: 0 } });
    const cases: Kernel[] = [
      kernel('rows', 0, { n: 13, c: 11 }, bin('/', { k: 'unary', fn: 'exp', a: ld(1, { n: 11, c: 1 }) }, { k: 'reduce', op: 'sum', vars: [{ v: 'k', extent: 11 }], body: { k: 'unary', fn: 'exp', a: ld(1, { n: 11, k: 1 }) } })),
      kernel('flat', 0, { i: 37 }, { k: 'unary', fn: 'gelu', a: bin('*', ld(1, { i: 1 }), ld(2, { i: 1 })) }),
    ];
    const m = buildWasmLoops(cases, [], { module: 'env', name: 'mem', minPages: 0 });
    const mem = new WebAssembly.Memory({ initial: 1 });
    const ex = new WebAssembly.Instance(new WebAssembly.Module(m.bytes), { env: { mem } }).exports as Record<string, (lo: number, hi: number, tab: number, argp: number) => void>;
    const f = new Float32Array(mem.buffer);
    const tab = new Int32Array(mem.buffer, 0, 8);
    const r = rng(3);
    for (let i = 1024; i < 4096; i++) f[i] = r() * 4 - 2;
    cases.forEach((k, i) => {
      const e = m.kernels[i]!;
      if (!('bufs' in e)) throw new Error(e.reason);
      const addr: Record<number, number> = { 0: 4 * 8192, 1: 4 * 1024, 2: 4 * 2048 };
      e.bufs.forEach((id, j) => (tab[j] = addr[id]!));
      const n = k.loops[0]!.extent, size = k.loops.reduce((p, l) => p * l.extent, 1);
      ex[e.name]!(0, n, 0, 64);
      const whole = f.slice(8192, 8192 + size);
      f.fill(0, 8192, 8192 + size);
      for (const [lo, hi] of [[0, 5], [5, 6], [6, n]] as const) ex[e.name]!(lo, hi, 0, 64);
      expect(f.slice(8192, 8192 + size), k.name).toEqual(whole);
    });
  });

  it('vectorises the ViT shapes: GELU, its transposed-operand backward, softmax, layer norm moments, column sums', () => {
    const ld = (buf: number, terms: Record<string, number>): KExpr => ({ k: 'load', buf, at: { terms: Object.entries(terms).map(([v, c]) => ({ v, c })), offset: 0 } });
    const cases: Kernel[] = [
      kernel('gelu', 0, { n: 65, c: 1536 }, { k: 'unary', fn: 'gelu', a: ld(1, { n: 1536, c: 1 }) }),
      kernel('dgelu', 0, { n: 65, c: 1536 }, bin('*', { k: 'unaryGrad', fn: 'gelu', a: ld(1, { n: 1536, c: 1 }) }, ld(2, { c: 65, n: 1 }))),
      kernel('softmax', 0, { n: 65, j: 65 }, bin('/', { k: 'unary', fn: 'exp', a: ld(1, { n: 65, j: 1 }) }, { k: 'reduce', op: 'sum', vars: [{ v: 'k', extent: 65 }], body: { k: 'unary', fn: 'exp', a: ld(1, { n: 65, k: 1 }) } })),
      kernel('mean', 0, { n: 65 }, { k: 'reduce', op: 'sum', vars: [{ v: 'k', extent: 384 }], body: ld(1, { n: 384, k: 1 }) }),
      kernel('colsum', 0, { c: 384 }, { k: 'reduce', op: 'sum', vars: [{ v: 'n', extent: 2080 }], body: ld(1, { n: 384, c: 1 }) }),
    ];
    for (const k of cases) expect(renderWasmKernel(k, []), k.name).toHaveProperty('bufs');
    // what stays JS: a pow with a variable exponent
    expect(renderWasmKernel(kernel('pow', 0, { c: 16 }, bin('pow', ld(1, { c: 1 }), ld(2, { c: 1 }))), [])).toEqual({ reason: 'pow' });
    // nothing to vectorise (a short row, a strided reduce): scalar wasm, not JS, whose once-a-step runs box doubles
    expect(renderWasmKernel(kernel('strided', 0, { c: 3 }, { k: 'reduce', op: 'sum', vars: [{ v: 'n', extent: 9 }], body: ld(1, { n: 3, c: 1 }) }), [])).toHaveProperty('bufs');
  });

  it('LILY_LOOPS=js (when no option is given) keeps the JS kernels; the option wins', () => {
    const old = process.env.LILY_LOOPS;
    try {
      process.env.LILY_LOOPS = 'js';
      expect(loopsEngine()).toBe('js');
      expect(loopsEngine('wasm')).toBe('wasm');
      delete process.env.LILY_LOOPS;
      expect(loopsEngine()).toBe('wasm');
    } finally {
      if (old === undefined) delete process.env.LILY_LOOPS;
      else process.env.LILY_LOOPS = old;
    }
  });
});
