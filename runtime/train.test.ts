// The training step on the reference backend: AdamW equals a hand-computed update, SGD equals
// p − lr·g with g from the (finite-difference-checked) autodiff, and the loss goes down.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.ts';
import { CpuExecutable, cpuBackend } from './backends/cpu-exec.ts';
import { pendingRecipe, zerosWhenNeeded } from './init/drawn.ts';
import { numel } from './tensor/tensor.ts';
import { compileTraining } from './train.ts';

const src = (f: string) => readFileSync(new URL(`../stdlib/adapters/${f}`, import.meta.url), 'utf8');
const lora = checkSource(src('lora.lily'), 'lora.lily');
const lily = checkSource(src('lily.lily'), 'lily.lily');

const batch = (N: number, In: number, Out: number) => ({
  x: Float32Array.from({ length: N * In }, (_, i) => Math.sin(i * 1.3)),
  t: Float32Array.from({ length: N * Out }, (_, i) => Math.cos(i * 0.7)),
});

describe('training step (reference backend)', () => {
  it('AdamW: one step equals the hand-computed update', async () => {
    const cfg = { kind: 'adamw' as const, lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
    const dims = { N: 3, In: 2, Out: 2, r: 1 };
    const tr = await compileTraining(lora, 'LoRA', { dims, optimizer: cfg, keep: 'gradients' });
    const before = await tr.parameters();
    const b = batch(3, 2, 2);
    await tr.step(b);
    const g = await tr.read('grad:A'); // the gradient this step used (B is zero at init: grad:A = 0)
    const gB = await tr.read('grad:B');
    const after = await tr.parameters();
    // Hand-computed AdamW, PyTorch semantics, step 1: m = (1−β1)g, v = (1−β2)g², m̂ = g, v̂ = g².
    for (const [name, grad] of [['A', g], ['B', gB]] as const) {
      const p0 = before.get(name)!;
      const p1 = after.get(name)!;
      for (let i = 0; i < p0.length; i++) {
        const m = (1 - cfg.beta1) * grad[i];
        const v = (1 - cfg.beta2) * grad[i] * grad[i];
        const mhat = m / (1 - cfg.beta1);
        const vhat = v / (1 - cfg.beta2);
        const want = p0[i] * (1 - cfg.lr * cfg.weightDecay) - (cfg.lr * mhat) / (Math.sqrt(vhat) + cfg.eps);
        expect(p1[i]).toBeCloseTo(want, 5);
      }
    }
    expect([...gB].some((v) => v !== 0)).toBe(true);
  });

  it('SGD: p ← p − lr·g', async () => {
    const tr = await compileTraining(lora, 'LoRA', { dims: { N: 4, In: 3, Out: 2, r: 2 }, optimizer: { kind: 'sgd', lr: 0.5 }, keep: 'gradients' });
    const before = await tr.parameters();
    await tr.step(batch(4, 3, 2));
    const g = await tr.read('grad:B');
    const after = await tr.parameters();
    after.get('B')!.forEach((v, i) => expect(v).toBeCloseTo(before.get('B')![i] - 0.5 * g[i], 6));
  });

  it('Lily trains: the loss decreases over steps', async () => {
    const tr = await compileTraining(lily, 'Lily', { dims: { N: 8, In: 6, Out: 5, r: 2, E: 3 }, optimizer: { kind: 'adamw', lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } });
    const b = batch(8, 6, 5);
    const first = await tr.step(b);
    let last = first;
    for (let i = 0; i < 20; i++) last = await tr.step(b);
    expect(last).toBeLessThan(first * 0.8);
  });
});

describe('zeros a new CPU executable holds already', () => {
  it('load writes no zeros into a new block (x, t, B): they read as zeros', async () => {
    const tr = await compileTraining(lora, 'LoRA', { dims: { N: 64, In: 32, Out: 16, r: 4 }, backend: cpuBackend() });
    expect((tr.exec as CpuExecutable).zerosNotWritten).toBeGreaterThanOrEqual(3);
    for (const name of ['x', 't', 'B']) expect((await tr.exec.read(name)).every((v) => v === 0), name).toBe(true);
    tr.dispose();
  });

  it('a leaf written before load (set, run) is written with its zeros', async () => {
    const tr = await compileTraining(lora, 'LoRA', { dims: { N: 64, In: 32, Out: 16, r: 4 }, backend: cpuBackend() });
    const shape = tr.plan.buffers[tr.plan.leaves.get('B')!]!.shape;
    for (const first of ['set', 'run'] as const) {
      const exec = (await cpuBackend().prepare(tr.plan)) as CpuExecutable;
      await exec.set('B', new Float32Array(numel(shape)).fill(1));
      if (first === 'run') await exec.run(Object.fromEntries(tr.plan.args.map((a) => [a, 1])));
      await exec.load([['B', zerosWhenNeeded(shape)]]);
      expect(exec.zerosNotWritten, first).toBe(0);
      expect((await exec.read('B')).every((v) => v === 0), first).toBe(true);
      exec.dispose();
    }
    tr.dispose();
  });
});

describe('initial values a training executable does not need', () => {
  it("x and t, written before every run that reads them, are loaded as zeros: their sample values are never drawn", async () => {
    const tr = await compileTraining(lora, 'LoRA', { dims: { N: 64, In: 32, Out: 16, r: 4 }, backend: cpuBackend() });
    for (const name of ['x', 't']) {
      expect(pendingRecipe(tr.program.leaves.get(name)!), `the sample ${name} was drawn`).toBeDefined();
      expect((await tr.exec.read(name)).every((v) => v === 0), name).toBe(true);
    }
    // a step feeds x and t as before
    const batch = { x: Float32Array.from({ length: 64 * 32 }, (_, i) => Math.sin(i)), t: Float32Array.from({ length: 64 * 16 }, (_, i) => Math.cos(i)) };
    expect(Number.isFinite(await tr.step(batch))).toBe(true);
    expect(await tr.exec.read('x')).toEqual(batch.x);
    expect(await tr.exec.read('t')).toEqual(batch.t);
    tr.dispose();
  });
});
