// Gradient clipping, schedules and per-parameter learning rates, fused into the training step,
// against updates computed by hand from the (autodiff, finite-difference-checked) gradients.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../compiler/frontend.ts';
import { compileTraining, type TrainOptions } from '../train.ts';
import { parseLrRatio, schedule } from './schedule.ts';

const lora = checkSource(readFileSync(new URL('../../stdlib/adapters/lora.lily', import.meta.url), 'utf8'), 'lora.lily');
const dims = { N: 4, In: 3, Out: 2, r: 2 };
const batch = { x: Float32Array.from({ length: 12 }, (_, i) => Math.sin(i * 1.7)), t: Float32Array.from({ length: 8 }, (_, i) => 3 * Math.cos(i)) };
const sgd = { kind: 'sgd' as const, lr: 0.1 };

/** Parameters before and after one step, and the gradients of an unclipped twin at the same point. */
async function oneStep(opts: Partial<TrainOptions>, steps = 1) {
  const base: TrainOptions = { dims, params: 'random', seed: 5, optimizer: sgd, keep: 'gradients' };
  const tr = await compileTraining(lora, 'LoRA', { ...base, ...opts });
  const twin = await compileTraining(lora, 'LoRA', base);
  for (let i = 1; i < steps; i++) {
    await tr.step(batch);
    await twin.restore(await tr.trainState(), tr.steps);
  }
  const before = await tr.parameters();
  await twin.step(batch);
  await tr.step(batch);
  const grads = new Map(await Promise.all(['A', 'B'].map(async (n) => [n, await twin.read(`grad:${n}`)] as const)));
  return { before, after: await tr.parameters(), grads, tr };
}

const norm = (gs: Float32Array[]) => Math.sqrt(gs.reduce((a, g) => a + g.reduce((b, v) => b + v * v, 0), 0));

describe('optimisation options', () => {
  it('--clip-grad-norm scales every gradient by min(1, c / (‖g‖ + 1e-6)), ‖g‖ over all of them', async () => {
    for (const c of [0.05, 1e6]) {
      const { before, after, grads, tr } = await oneStep({ clipGradNorm: c });
      const n = norm([...grads.values()]);
      expect(n).toBeGreaterThan(0.05 * 2); // the small limit really clips
      expect((await tr.read('grad_norm'))[0]).toBeCloseTo(n, 4);
      const f = Math.min(1, c / (n + 1e-6));
      for (const p of ['A', 'B']) before.get(p)!.forEach((v, i) => expect(after.get(p)![i]).toBeCloseTo(v - 0.1 * f * grads.get(p)![i], 6));
    }
  });

  it('--lr-ratio B=16 gives B sixteen times the learning rate (LoRA+)', async () => {
    const r = parseLrRatio('B=16');
    if (typeof r === 'string') throw new Error(r);
    const { before, after, grads } = await oneStep({ lrRatio: r.ratioOf });
    for (const [p, ratio] of [['A', 1], ['B', 16]] as const) before.get(p)!.forEach((v, i) => expect(after.get(p)![i]).toBeCloseTo(v - 0.1 * ratio * grads.get(p)![i], 5));
    expect(parseLrRatio('B=x')).toMatch(/NAME=RATIO/);
  });

  it('schedules: warm-up from 0, then linear and cosine decay (transformers semantics); each step uses its factor', async () => {
    const lin = schedule('linear', 10, 2);
    expect([1, 2, 3, 4, 12].map(lin)).toEqual([0, 0.5, 1, 7 / 8, 0]);
    const cos = schedule('cosine', 10, 0);
    expect(cos(1)).toBe(1);
    expect(cos(6)).toBeCloseTo(0.5, 12);
    expect(schedule('constant', 10, 4)(3)).toBe(0.5);
    for (const t of [1, 2, 4]) {
      const s = schedule('linear', 10, 2);
      const { before, after, grads } = await oneStep({ schedule: s }, t);
      for (const p of ['A', 'B']) before.get(p)!.forEach((v, i) => expect(after.get(p)![i]).toBeCloseTo(v - 0.1 * s(t) * grads.get(p)![i], 6));
    }
  });
});
