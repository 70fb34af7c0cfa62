import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { arg, bin, closeness, cst, kernel, ld, max, plan, rand, sum, un } from '../../compiler/codegen/cpu-testkit.ts';
import type { KernelPlan } from '../../compiler/fuse/kernel-ir.ts';
import { runPlanReference } from '../../compiler/fuse/reference.ts';
import { planKernels } from '../../compiler/fuse/fuse.ts';
import { checkSource } from '../../compiler/frontend.ts';
import { compile } from '../../compiler/pipeline.ts';
import { compileTraining } from '../train.ts';
import type * as T from '../tensor/index.ts';
import { clearKernelFactories, kernelFactoriesCompiled } from '../../compiler/codegen/cpu.ts';
import { CpuExecutable, cpuBackend, type CpuBackendOptions } from './cpu-exec.ts';
import { arenaOf } from './cpu-arena.ts';
import { cpuGemmEngine, cpuGemmReady } from './cpu-gemm.ts';
import { loadNativeBlas } from './native-blas.ts';

/**
 * One LoRA training step on a frozen linear layer, by hand (what the fusion pass will emit):
 *   h = x·A, hB = h·B, y = x·W + s·hB, gB = s·hᵀ·gy, gh = s·gy·Bᵀ, gA = xᵀ·gh,
 *   A' = A − lr·gA, B' = B − lr·gB
 * Buffers: 0 x, 1 W, 2 A, 3 B, 4 gy, temps 5 h, 6 hB, 7 y, 8 gB, 9 gh, 10 gA, 11 A', 12 B'.
 * hB (dead after y) and gh (born later) share slot 0.
 */
function loraPlan(Tn: number, D: number, r: number, extraSlots: [number, number][] = []): KernelPlan {
  const x = (t: string, d: string) => ld(0, { [t]: D, [d]: 1 });
  const W = (d: string, e: string) => ld(1, { [d]: D, [e]: 1 });
  const A = (d: string, q: string) => ld(2, { [d]: r, [q]: 1 });
  const Bm = (q: string, e: string) => ld(3, { [q]: D, [e]: 1 });
  const gy = (t: string, e: string) => ld(4, { [t]: D, [e]: 1 });
  const h = (t: string, q: string) => ld(5, { [t]: r, [q]: 1 });
  const s = arg('s'), lr = arg('lr');
  const kernels = [
    kernel('h', 5, { t: Tn, q: r }, sum({ d: D }, bin('*', x('t', 'd'), A('d', 'q'))), [0, 2]),
    kernel('hB', 6, { t: Tn, e: D }, sum({ q: r }, bin('*', h('t', 'q'), Bm('q', 'e'))), [5, 3]),
    kernel('y', 7, { t: Tn, e: D }, bin('+', sum({ d: D }, bin('*', x('t', 'd'), W('d', 'e'))), bin('*', s, ld(6, { t: D, e: 1 }))), [0, 1, 6]),
    kernel('gB', 8, { q: r, e: D }, bin('*', s, sum({ t: Tn }, bin('*', h('t', 'q'), gy('t', 'e')))), [5, 4]),
    kernel('gh', 9, { t: Tn, q: r }, bin('*', sum({ e: D }, bin('*', gy('t', 'e'), Bm('q', 'e'))), s), [4, 3]),
    kernel('gA', 10, { d: D, q: r }, sum({ t: Tn }, bin('*', x('t', 'd'), ld(9, { t: r, q: 1 }))), [0, 9]),
    kernel('A1', 11, { d: D, q: r }, bin('-', A('d', 'q'), bin('*', lr, ld(10, { d: r, q: 1 }))), [2, 10]),
    kernel('B1', 12, { q: r, e: D }, bin('-', Bm('q', 'e'), bin('*', lr, ld(8, { q: D, e: 1 }))), [3, 8]),
  ];
  return plan({
    leaves: [
      ['x', [Tn, D]],
      ['W', [D, D], 'param'],
      ['A', [D, r], 'param'],
      ['B', [r, D], 'param'],
      ['gy', [Tn, D]],
    ],
    temps: [[Tn, r], [Tn, D], [Tn, D], [r, D], [Tn, r], [D, r], [D, r], [r, D]],
    kernels,
    outputs: [
      ['y', 7],
      ['grad:A', 10],
      ['grad:B', 8],
      ['param:A', 11],
      ['param:B', 12],
    ],
    args: ['s', 'lr'],
    slots: [[6, 0], [9, 0], [5, 1], ...extraSlots],
  });
}

function feedsOf(p: KernelPlan, seed: number): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  let s = seed;
  for (const [name, id] of p.leaves) m.set(name, rand(p.buffers[id]!.size, s++));
  return m;
}

const f64 = (p: KernelPlan, feeds: Map<string, Float32Array>) =>
  new Map<string, T.Tensor>([...feeds].map(([n, x]) => [n, { shape: p.buffers[p.leaves.get(n)!]!.shape, data: Float64Array.from(x) }]));

function expectClose(got: Float32Array, want: ArrayLike<number>, what: string, rtol = 1e-4, atol = 1e-4) {
  const c = closeness(got, want, rtol, atol);
  expect(c.worst, `${what}[${c.at}]: got ${got[c.at]}, want ${want[c.at]}`).toBeLessThanOrEqual(1);
}

describe('cpu backend', () => {
  beforeAll(async () => {
    await cpuGemmReady();
  });

  it('runs a LoRA training step: gemm kernels, shared slots, buffers in wasm memory; equal to the reference over 3 steps with assign', async () => {
    const p = loraPlan(64, 48, 8);
    const exe = (await cpuBackend({ blas: 'wasm' }).prepare(p)) as CpuExecutable;
    expect(exe.gemmKind).toBe('wasm');
    expect(exe.backend).toBe('cpu');
    expect(exe.kernels.map((k) => k.strategy)).toEqual(['gemm', 'gemm', 'gemm', 'gemm', 'gemm', 'gemm', 'loops', 'loops']);
    // every buffer lives in the gemm engine's memory: gemm reads and writes them in place
    const eng = cpuGemmEngine();
    for (const b of exe.B) expect(eng.owns(b)).toBe(true);
    // hB and gh share memory; outputs and leaves do not share with anything
    expect(exe.B[6]!.byteOffset).toBe(exe.B[9]!.byteOffset);
    const starts = exe.B.map((b) => b.byteOffset);
    for (const id of [0, 1, 2, 3, 4, 7, 8, 10, 11, 12]) expect(starts.filter((s) => s === starts[id]).length).toBe(1);

    const feeds = feedsOf(p, 100);
    for (const [n, x] of feeds) await exe.set(n, x);
    const args = { s: 0.5, lr: 0.1 };
    let ref = f64(p, feeds);
    for (let step = 0; step < 3; step++) {
      await exe.run(args);
      const want = runPlanReference(p, ref, args);
      for (const name of p.outputs.keys()) expectClose(await exe.read(name), want.get(name)!.data, `step ${step} ${name}`);
      await exe.assign([
        ['param:A', 'A'],
        ['param:B', 'B'],
      ]);
      expectClose(await exe.read('A'), want.get('param:A')!.data, `step ${step} A after assign`);
      ref = new Map(ref);
      ref.set('A', want.get('param:A')!);
      ref.set('B', want.get('param:B')!);
    }
    exe.dispose();
  });

  it('makes at prepare the JavaScript of every kernel and pass that does not run as WebAssembly, and none other', async () => {
    const p = loraPlan(64, 48, 8);
    const args = { s: 0.5, lr: 0.1 };
    const made = async (loops: 'wasm' | 'js') => {
      clearKernelFactories(); // every form compiled again, as in a fresh process
      const before = kernelFactoriesCompiled();
      const exe = (await cpuBackend({ blas: 'wasm', loops }).prepare(p)) as CpuExecutable;
      const atPrepare = kernelFactoriesCompiled() - before;
      for (const [n, x] of feedsOf(p, 3)) await exe.set(n, x);
      await exe.run(args);
      return { exe, atPrepare, atRun: kernelFactoriesCompiled() - before - atPrepare };
    };
    const wasm = await made('wasm'), js = await made('js');
    expect(wasm.exe.wasmKernels + wasm.exe.wasmPasses).toBeGreaterThan(0);
    expect(js.exe.wasmKernels).toBe(0);
    // the wasm executable leaves out the JS of what runs as wasm (the two updates, y's epilogue)...
    expect(wasm.atPrepare).toBeLessThan(js.atPrepare);
    // ...and makes all it needs at prepare: a step makes none
    expect(wasm.atRun).toBe(0);
    expect(js.atRun).toBe(0);
    // the JS stays readable (made on reading), the same as the JS executable's
    expect(wasm.exe.kernels.map((k) => k.source)).toEqual(js.exe.kernels.map((k) => k.source));
    for (const name of p.outputs.keys()) expectClose(await wasm.exe.read(name), await js.exe.read(name), name);
    wasm.exe.dispose();
    js.exe.dispose();
  });

  it('steady-state runs allocate no buffers and grow no memory', async () => {
    const p = loraPlan(64, 48, 8);
    const exe = (await cpuBackend({ blas: 'wasm' }).prepare(p)) as CpuExecutable;
    for (const [n, x] of feedsOf(p, 7)) await exe.set(n, x);
    const args = { s: 0.5, lr: 0.1 };
    await exe.run(args);
    await exe.assign([['param:A', 'A']]);
    await exe.run(args);
    const mem = cpuGemmEngine().memory.buffer.byteLength;
    const arrays = [...exe.B];
    for (let i = 0; i < 5; i++) await exe.run(args);
    expect(cpuGemmEngine().memory.buffer.byteLength).toBe(mem);
    exe.B.forEach((b, i) => expect(b).toBe(arrays[i]));
    exe.dispose();
  });

  it('reuses released wasm blocks across executables', async () => {
    const eng = cpuGemmEngine();
    const p = loraPlan(32, 24, 4);
    const a = (await cpuBackend({ blas: 'wasm' }).prepare(p)) as CpuExecutable;
    const at = a.B[0]!.byteOffset;
    a.dispose();
    expect(arenaOf(eng).freeFloats).toBeGreaterThan(0);
    const b = (await cpuBackend({ blas: 'wasm' }).prepare(p)) as CpuExecutable;
    expect(b.B[0]!.byteOffset).toBe(at);
    b.dispose();
    expect(() => b.runSync({ s: 1, lr: 1 })).toThrow(/dispose/);
  });

  it('guards against unsafe slot sharing: outputs and kernel outputs aliasing their own inputs get private memory', async () => {
    // y (an output) and gh (a later temp) in one slot; gA in the slot of its own input gh
    const p = loraPlan(32, 24, 4, [[7, 0], [10, 0]]);
    const exe = (await cpuBackend().prepare(p)) as CpuExecutable;
    expect(exe.B[7]!.byteOffset).not.toBe(exe.B[9]!.byteOffset);
    expect(exe.B[10]!.byteOffset).not.toBe(exe.B[9]!.byteOffset);
    const feeds = feedsOf(p, 3);
    for (const [n, x] of feeds) await exe.set(n, x);
    const args = { s: 0.5, lr: 0.1 };
    await exe.run(args);
    const want = runPlanReference(p, f64(p, feeds), args);
    for (const name of p.outputs.keys()) expectClose(await exe.read(name), want.get(name)!.data, name);
    exe.dispose();
  });

  it('set / read / assign / run validate names, sizes and arguments', async () => {
    const p = loraPlan(16, 12, 2);
    const exe = await cpuBackend().prepare(p);
    await expect(exe.set('nope', new Float32Array(1))).rejects.toThrow(/no leaf/);
    await expect(exe.set('x', new Float32Array(3))).rejects.toThrow(/needs 192/);
    await expect(exe.read('nope')).rejects.toThrow(/no output/);
    await expect(exe.run({ s: 1 })).rejects.toThrow(/lr/);
    await expect(exe.read('y')).rejects.toThrow(/not been computed/);
    await expect(exe.assign([['param:A', 'A']])).rejects.toThrow(/not been computed/);
    await exe.run({ s: 1, lr: 0.5 });
    await expect(exe.assign([['y', 'nope']])).rejects.toThrow(/no leaf/);
    await expect(exe.assign([['y', 'A']])).rejects.toThrow(/cannot assign/);
    // leaves can be read back; assign of the same output to two leaves copies the second time
    const x = rand(16 * 12, 5);
    await exe.set('x', x);
    expect(await exe.read('x')).toEqual(x);
    await exe.run({ s: 1, lr: 0.5 });
    const a1 = await exe.read('param:A');
    await exe.assign([['param:A', 'A']]);
    expect(await exe.read('A')).toEqual(a1);
    expect(await exe.read('param:A')).toEqual(a1); // still readable after the swap
    await exe.assign([['param:A', 'A']]); // twice: idempotent
    expect(await exe.read('A')).toEqual(a1);
    exe.dispose();
  });

  it('random kernel chains through shared slots equal the reference (gemm on and off)', async () => {
    // x → softmax rows → ·W (gemm) → +bias, relu → row sums; temps alternate between two slots
    const arb = fc.record({
      R: fc.integer({ min: 1, max: 40 }),
      C: fc.integer({ min: 1, max: 40 }),
      N: fc.integer({ min: 1, max: 40 }),
      seed: fc.integer({ min: 1, max: 1 << 30 }),
      gemm: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ R, C, N, seed, gemm }) => {
        const xs = (j: string) => ld(0, { i: C, [j]: 1 });
        const m = max({ k: C }, xs('k'));
        const e = (j: string) => un('exp', bin('-', xs(j), m));
        const t3 = (j: string) => ld(3, { i: C, [j]: 1 });
        const p = plan({
          leaves: [['x', [R, C]], ['W', [C, N], 'param'], ['b', [N], 'param']],
          temps: [[R, C], [R, N], [R]],
          kernels: [
            kernel('softmax', 3, { i: R, j: C }, bin('/', e('j'), sum({ k2: C }, e('k2'))), [0]),
            kernel('lin', 4, { i: R, j: N }, un('relu', bin('+', sum({ k: C }, bin('*', t3('k'), ld(1, { k: N, j: 1 }))), ld(2, { j: 1 }))), [3, 1, 2]),
            kernel('rows', 5, { i: R }, bin('*', cst(0.5), sum({ j: N }, ld(4, { i: N, j: 1 }))), [4]),
          ],
          outputs: [['y', 5]],
          slots: [[3, 0], [4, 1]],
        });
        const exe = await cpuBackend({ gemm }).prepare(p);
        const feeds = feedsOf(p, seed);
        for (const [n, x] of feeds) await exe.set(n, x);
        await exe.run();
        expectClose(await exe.read('y'), runPlanReference(p, f64(p, feeds)).get('y')!.data, 'y', 1e-4, 1e-4 * (1 + C / 8));
        exe.dispose();
      }),
      { seed: 31337, numRuns: 40 },
    );
  });
});

describe('cpu backend on fusion-pass plans', () => {
  const src = (f: string) => readFileSync(new URL(`../../stdlib/adapters/${f}`, import.meta.url), 'utf8');

  it('every stdlib adapter (forward + backward, planned by planKernels) equals the reference', async () => {
    const files = readdirSync(new URL('../../stdlib/adapters/', import.meta.url)).filter((f) => f.endsWith('.lily'));
    let checkedUnits = 0;
    const names: string[] = [];
    const strategies = new Map<string, number>();
    for (const f of files) {
      const checked = checkSource(src(f), f);
      for (const [name, unit] of checked.units) {
        if (unit.decl.kind !== 'adapter') continue;
        // Every stdlib adapter takes these sizes: a compile error is a failure, never a skip.
        const p = compile(checked, name, { settings: { N: 6, In: 20, Out: 12, r: 3, E: 3, n: 2, f: 2, rh: 2, P: 2, k: 1, h: 2, b: 4 }, seed: 5 });
        const plan = planKernels(p.graph);
        const feeds = new Map([...p.leaves].filter(([k]) => plan.leaves.has(k)));
        for (const [k, v] of plan.constants) feeds.set(k, { shape: plan.buffers[plan.leaves.get(k)!]!.shape, data: v });
        const want = runPlanReference(plan, feeds);
        // low thresholds so these small shapes exercise the gemm lowering too
        // the wasm gemm, and OpenBLAS where the native binding is built (its own test says when it is not)
        const variants: CpuBackendOptions[] = [{ blas: 'wasm' }, { blas: 'wasm', strategy: 'gemm' }];
        if (loadNativeBlas().ok) variants.push({ blas: 'native' }, { blas: 'native', strategy: 'gemm' });
        for (const opts of variants) {
          const exe = (await cpuBackend(opts).prepare(plan)) as CpuExecutable; // sets plan.constants itself
          for (const k of exe.kernels) strategies.set(k.strategy, (strategies.get(k.strategy) ?? 0) + 1);
          for (const [k, t] of p.leaves) if (plan.leaves.has(k)) await exe.set(k, Float32Array.from(t.data));
          await exe.run();
          for (const [out, t] of want) expectClose(await exe.read(out), t.data, `${name} ${out}`, 1e-4, 1e-4);
          exe.dispose();
        }
        checkedUnits++;
        names.push(name);
      }
    }
    expect(checkedUnits).toBeGreaterThan(10);
    // The adapters written with masks, top-k, slices, SVD initialisers, kron in comprehensions and DFTs run here too.
    for (const n of ['FlyLoRA', 'LilyTopK', 'VBLoRA', 'C3A', 'PiSSA', 'MiLoRA', 'LoRAXS', 'DyLoRA', 'Compacter', 'MELoRA', 'SingLoRA']) expect(names).toContain(n);
    expect(strategies.get('gemm')).toBeGreaterThan(10);
  });

  it('training steps (AdamW, assign of params and moments) follow the reference backend', async () => {
    const checked = checkSource(src('lora.lily'), 'lora.lily');
    const dims = { N: 16, In: 24, Out: 20, r: 4 };
    const optimizer = { kind: 'adamw' as const, lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 };
    const ours = await compileTraining(checked, 'LoRA', { dims, optimizer, params: 'random', seed: 2, backend: cpuBackend({ strategy: 'gemm' }) });
    const ref = await compileTraining(checked, 'LoRA', { dims, optimizer, params: 'random', seed: 2 });
    const batch = { x: rand(16 * 24, 1), t: rand(16 * 20, 2) };
    for (let step = 0; step < 4; step++) {
      const a = await ours.step(batch), b = await ref.step(batch);
      expect(Math.abs(a - b)).toBeLessThan(1e-4 * (1 + Math.abs(b)));
    }
    const pa = await ours.parameters(), pb = await ref.parameters();
    for (const [n, v] of pb) expectClose(pa.get(n)!, v, n, 1e-3, 1e-4);
    ours.dispose();
    ref.dispose();
  });
});
