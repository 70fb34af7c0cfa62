import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Kernel, KernelPlan } from '../fuse/kernel-ir.ts';
import { checkSource } from '../frontend.ts';
import type { Backend, Executable } from '../../runtime/executable.ts';
import { compileTraining } from '../../runtime/train.ts';
import { compileCpuKernel, type CpuKernelOptions, type GemmBatchFn, type GemmFn } from './cpu.ts';
import { compileCpuKernels, kernelStructure, renamedFrom } from './cpu-share.ts';
import { buildWasmLoops } from '../../runtime/backends/wasm-loops-module.ts';
import { kernel, ld, plan, sum } from './cpu-testkit.ts';

/** a backend that keeps the plan it is given and runs nothing (the lowering is what is compared) */
function planCatcher(): { backend: Backend; plans: KernelPlan[] } {
  const plans: KernelPlan[] = [];
  const exec = { backend: 'none', set: async () => {}, run: async () => {}, read: async () => new Float32Array(), assign: async () => {}, dispose() {} } as Executable;
  return { plans, backend: { name: 'catch', available: async () => ({ ok: true }), prepare: async (p) => (plans.push(p), exec) } };
}

const gemm: GemmFn = () => {
  throw new Error('not run');
};
const gemmBatch: GemmBatchFn = () => {
  throw new Error('not run');
};
/** the renderer's variants: OpenBLAS (strided), the wasm gemm, forced gemm, loops only */
const VARIANTS: CpuKernelOptions[] = [{ gemm, gemmBatch }, { gemm }, { gemm, gemmBatch, strategy: 'gemm' }, { strategy: 'loops' }];

/** compileCpuKernels equals compileCpuKernel kernel by kernel: strategy, GEMM lowering, sources, scratch, passes */
function expectSameAsOneByOne(kernels: readonly Kernel[], opts: CpuKernelOptions, what: string): void {
  const passesShared: Kernel[] = [], passesOne: Kernel[] = [];
  const shared = compileCpuKernels(kernels, { ...opts, wrapPass: (k, fn) => (passesShared.push(k), fn) });
  const one = kernels.map((k) => compileCpuKernel(k, { ...opts, wrapPass: (x, fn) => (passesOne.push(x), fn) }));
  expect(shared.length).toBe(kernels.length);
  shared.forEach((c, i) => {
    const at = `${what}: ${kernels[i]!.name}`;
    expect(c.kernel, at).toBe(kernels[i]);
    expect(c.strategy, at).toBe(one[i]!.strategy);
    expect(c.source, at).toBe(one[i]!.source);
    expect(c.scratch, at).toEqual(one[i]!.scratch);
    expect(c.gemm, at).toEqual(one[i]!.gemm);
  });
  expect(passesShared, what).toEqual(passesOne);
}

const catchTrainingPlan = async (file: string, unit: string, dims: Record<string, number>): Promise<KernelPlan> => {
  const { backend, plans } = planCatcher();
  await compileTraining(checkSource(readFileSync(file, 'utf8'), file), unit, { dims, backend });
  return plans[0]!;
};

describe('kernels of the same structure lowered once (cpu-share.ts)', () => {
  it('the key tells kernels apart by anything but their buffers and kernel number', () => {
    const body = (a: number, b: number) => sum({ k: 4 }, { k: 'bin', op: '*', a: ld(a, { i: 4, k: 1 }), b: ld(b, { k: 8, j: 1 }) });
    const k1 = kernel('k1_mm_L3', 5, { i: 3, j: 8 }, body(0, 1), [0, 1]);
    const same = kernel('k9_mm_L3', 7, { i: 3, j: 8 }, body(2, 3), [2, 3]);
    expect(kernelStructure(same).key).toBe(kernelStructure(k1).key);
    expect(kernelStructure(same).bufs).toEqual([7, 2, 3]);
    const squared = kernel('k9_mm_L3', 7, { i: 3, j: 8 }, body(2, 2), [2]); // one buffer read twice
    const scratch = kernel('k9_mm_L3', 7, { i: 3, j: 8 }, body(2, -1), [2]); // a GEMM scratch operand
    const renamed = kernel('k9_mm_L4', 7, { i: 3, j: 8 }, body(2, 3), [2, 3]); // another line: another function name
    const keys = [k1, squared, scratch, renamed].map((k) => kernelStructure(k).key);
    expect(new Set(keys).size).toBe(4);
  });

  it('renames packed operands, a run-time alpha and an epilogue', () => {
    // y[i,j] = tanh(s · Σ_k A[i,k] B[k,j]) with A, B rows padded (row stride 5 > K = 4, 3 > N = 2): the
    // wasm gemm (contiguous operands only) packs both; s is a one-element buffer (gemm's alpha)
    const mm = (name: string, out: number, a: number, b: number, s: number) =>
      kernel(name, out, { i: 3, j: 2 }, { k: 'unary', fn: 'tanh', a: { k: 'bin', op: '*', a: ld(s, {}), b: sum({ k: 4 }, { k: 'bin', op: '*', a: ld(a, { i: 5, k: 1 }), b: ld(b, { k: 3, j: 1 }) }) } }, [a, b, s]);
    const kernels = [mm('k1_mm', 10, 0, 1, 2), mm('k2_mm', 11, 3, 4, 5), mm('k3_mm', 12, 4, 3, 3)];
    const m = compileCpuKernels(kernels, { gemm, strategy: 'gemm' })[1]!.gemm!;
    expect([m.packL?.name, m.packR?.name, m.epilogue?.name, m.alpha?.k]).toEqual(['k2_mm:packL', 'k2_mm:packR', 'k2_mm:epilogue', 'load']);
    expect(new Set(kernels.slice(0, 2).map((k) => kernelStructure(k).key)).size).toBe(1);
    for (const opts of VARIANTS) expectSameAsOneByOne(kernels, { ...opts, strategy: opts.strategy ?? 'gemm' }, 'mm');
  });

  it('equals lowering each kernel on its own, for every stdlib adapter\'s training step', async () => {
    const dir = new URL('../../stdlib/adapters/', import.meta.url);
    let plans = 0;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.lily')).sort()) {
      const file = new URL(f, dir).pathname;
      for (const [name, u] of checkSource(readFileSync(file, 'utf8'), file).units) {
        if (u.decl.kind !== 'adapter') continue;
        const p = await catchTrainingPlan(file, name, { N: 6, In: 20, Out: 12, r: 3, E: 3, n: 2, f: 2, rh: 2, P: 2, k: 1, h: 2, b: 4 });
        for (const opts of VARIANTS) expectSameAsOneByOne(p.kernels, opts, name);
        plans++;
      }
    }
    expect(plans).toBeGreaterThan(10);
  });

  it('equals lowering each kernel on its own for the whole model, where blocks share most structures', async () => {
    const p = await catchTrainingPlan(new URL('../../bench/model/vit-small.lily', import.meta.url).pathname, 'ViTLily', { Bt: 2, T: 5 });
    const structures = new Set(p.kernels.map((k) => kernelStructure(k).key)).size;
    expect(structures).toBeLessThan(p.kernels.length / 3); // six blocks: most kernels repeat
    for (const opts of VARIANTS) expectSameAsOneByOne(p.kernels, opts, 'ViTLily');
  });

  it('links each repeated kernel and GEMM pass to the first of its structure (renamedFrom); the wasm module built on those links is the one built from keys alone', async () => {
    const p = await catchTrainingPlan(new URL('../../bench/model/vit-small.lily', import.meta.url).pathname, 'ViTLily', { Bt: 2, T: 5 });
    const passes: Kernel[] = [];
    const compiled = compileCpuKernels(p.kernels, { gemm, gemmBatch, wrapPass: (k, fn) => (passes.push(k), fn) });
    const linked = [...p.kernels, ...passes].filter((k) => renamedFrom(k));
    expect(linked.length).toBeGreaterThan(p.kernels.length / 2);
    expect(passes.some((k) => renamedFrom(k))).toBe(true);
    for (const k of linked) expect(kernelStructure(k).key, k.name).toBe(kernelStructure(renamedFrom(k)!).key);
    const list = [...compiled.map((c) => (c.strategy === 'loops' ? c.kernel : null)), ...passes];
    const mem = { module: 'env', name: 'mem', minPages: 0 };
    const byKeys = buildWasmLoops(list, p.args, mem), byLinks = buildWasmLoops(list, p.args, mem, renamedFrom);
    expect(byLinks.kernels).toEqual(byKeys.kernels);
    expect(byLinks.bytes).toEqual(byKeys.bytes);
    // the links are what it follows: a link to a kernel of another structure is taken as given
    const [a, b] = list.filter((k): k is Kernel => k !== null && !renamedFrom(k));
    const names = (m: ReturnType<typeof buildWasmLoops>) => m.kernels.map((e) => ('name' in e ? e.name : e.reason));
    expect(names(buildWasmLoops([a!, b!], p.args, mem))).toEqual(['k0', 'k1']);
    expect(names(buildWasmLoops([a!, b!], p.args, mem, (k) => (k === b ? a : undefined)))).toEqual(['k0', 'k0']);
  });

  it('runs renamed kernels on their own buffers', () => {
    const mm = (name: string, out: number, a: number, b: number) =>
      kernel(name, out, { i: 3, j: 2 }, { k: 'bin', op: '+', a: sum({ k: 4 }, { k: 'bin', op: '*', a: ld(a, { i: 4, k: 1 }), b: ld(b, { k: 2, j: 1 }) }), b: { k: 'const', v: 1 } }, [a, b]);
    const p = plan({ leaves: [['a', [3, 4]], ['b', [4, 2]], ['c', [3, 4]], ['d', [4, 2]]], temps: [[3, 2], [3, 2]], outputs: [['x', 4], ['y', 5]], kernels: [mm('k1_mm', 4, 0, 1), mm('k2_mm', 5, 2, 3)] });
    const B = p.buffers.map((b) => Float32Array.from({ length: b.size }, (_, i) => (b.id + 1) * 0.25 + i));
    const [x, y] = compileCpuKernels(p.kernels, { strategy: 'loops' });
    x!.run(B);
    y!.run(B);
    const want = (a: number, b: number) => Array.from({ length: 6 }, (_, e) => {
      const i = Math.floor(e / 2), j = e % 2;
      let s = 0;
      for (let k = 0; k < 4; k++) s += B[a]![i * 4 + k]! * B[b]![k * 2 + j]!;
      return Math.fround(s + 1);
    });
    expect(Array.from(B[4]!)).toEqual(want(0, 1));
    expect(Array.from(B[5]!)).toEqual(want(2, 3));
  });
});
