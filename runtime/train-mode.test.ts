// Training mode in the compiled step: `step` and the forward-pass random draws are fed every step,
// and at every step the compiled program (CPU kernels) computes what the reference interpreter
// computes for that step; `lr * ratio` (LoRA+) scales one parameter's update.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.ts';
import { runEntry } from '../compiler/interp/run.ts';
import * as T from './tensor/index.ts';
import { cpuBackend } from './backends/cpu-exec.ts';
import { compileTraining } from './train.ts';

const src = (f: string) => readFileSync(new URL(`../stdlib/adapters/${f}`, import.meta.url), 'utf8');
const frozen = { kind: 'sgd' as const, lr: 0 }; // parameters stay put: y changes only with the step

const batch = (N: number, In: number, Out: number) => ({
  x: Float32Array.from({ length: N * In }, (_, i) => Math.sin(i * 1.3)),
  t: Float32Array.from({ length: N * Out }, (_, i) => Math.cos(i * 0.7)),
});

/** delta = y − (x W0 + b0) of the compiled program after its last step. */
async function compiledDelta(tr: Awaited<ReturnType<typeof compileTraining>>, x: Float32Array, N: number) {
  const y = await tr.read('y');
  const W = tr.program.leaves.get('base.W')!;
  const b = tr.program.leaves.get('base.b')!;
  const base = T.add(T.matmul(T.tensor([N, W.shape[0]], Float64Array.from(x)), W), T.broadcastAxes(b, [N, W.shape[1]], [1]));
  return Float64Array.from(y, (v, i) => v - base.data[i]);
}

describe('training mode in the compiled step', () => {
  it('DyLoRA (a rank sampled every step): the CPU kernels equal the interpreter at every step', async () => {
    const checked = checkSource(src('dylora.lily'), 'dylora.lily');
    const dims = { N: 4, In: 5, Out: 3, r: 4 };
    const tr = await compileTraining(checked, 'DyLoRA', { dims, optimizer: frozen, params: 'random', seed: 9, keep: ['y'], backend: cpuBackend() });
    const b = batch(4, 5, 3);
    const given = new Map([...tr.program.leaves].filter(([k]) => ['A', 'B'].includes(k)));
    const seen = new Set<string>();
    for (let step = 0; step < 6; step++) {
      await tr.step(b);
      const got = await compiledDelta(tr, b.x, 4);
      const want = runEntry(checked, 'DyLoRA', { settings: dims, inputs: new Map([['x', T.tensor([4, 5], Float64Array.from(b.x))]]), given, seed: 9, mode: { training: true, step } }).output;
      const w = (want as { t: T.Tensor }).t;
      got.forEach((v, i) => expect(v).toBeCloseTo(w.data[i], 4));
      seen.add(Array.from(got, (v) => v.toFixed(4)).join());
    }
    expect(seen.size, 'the sampled rank changes between steps').toBeGreaterThan(1);
  });

  it('LoRA dropout: a fresh mask every step, each entry of x dropped or scaled by 1/(1 − p), as the interpreter draws it', async () => {
    const checked = checkSource(src('lora.lily'), 'lora.lily');
    const dims = { N: 6, In: 8, Out: 3, r: 2, drop: 0.5 };
    const tr = await compileTraining(checked, 'LoRA', { dims, optimizer: frozen, params: 'random', seed: 3, keep: ['y'], backend: cpuBackend() });
    const b = batch(6, 8, 3);
    const given = new Map([...tr.program.leaves].filter(([k]) => ['A', 'B'].includes(k)));
    const deltas: string[] = [];
    for (let step = 0; step < 3; step++) {
      await tr.step(b);
      const got = await compiledDelta(tr, b.x, 6);
      const want = (runEntry(checked, 'LoRA', { settings: dims, inputs: new Map([['x', T.tensor([6, 8], Float64Array.from(b.x))]]), given, seed: 3, mode: { training: true, step } }).output as { t: T.Tensor }).t;
      got.forEach((v, i) => expect(v).toBeCloseTo(want.data[i], 4));
      deltas.push(Array.from(got, (v) => v.toFixed(4)).join());
    }
    expect(new Set(deltas).size).toBe(3);
    // In evaluation dropout is the identity: the interpreter's delta is s·x A B exactly.
    const x = T.tensor([6, 8], Float64Array.from(b.x));
    const evalOut = (runEntry(checked, 'LoRA', { settings: dims, inputs: new Map([['x', x]]), given }).output as { t: T.Tensor }).t;
    const plain = T.map(T.matmul(T.matmul(x, given.get('A')!), given.get('B')!), (v) => v * (8 / 2));
    evalOut.data.forEach((v, i) => expect(v).toBeCloseTo(plain.data[i], 10));
  });

  it('predict evaluates in evaluation mode: dropout off, with the trained parameters', async () => {
    const checked = checkSource(src('lora.lily'), 'lora.lily');
    const dims = { N: 4, In: 5, Out: 3, r: 2, drop: 0.5 };
    const tr = await compileTraining(checked, 'LoRA', { dims, optimizer: { kind: 'sgd', lr: 0.2 }, seed: 2, backend: cpuBackend() });
    const b = batch(4, 5, 3);
    for (let i = 0; i < 3; i++) await tr.step(b);
    const params = await tr.parameters();
    const given = new Map([...params].map(([k, v]) => [k, T.tensor(tr.plan.buffers[tr.plan.leaves.get(k)!].shape, Float64Array.from(v))]));
    const x = T.tensor([4, 5], Float64Array.from(b.x));
    const delta = (runEntry(checked, 'LoRA', { settings: dims, inputs: new Map([['x', x]]), given }).output as { t: T.Tensor }).t;
    const W = tr.program.leaves.get('base.W')!;
    const want = T.add(T.add(T.matmul(x, W), T.broadcastAxes(tr.program.leaves.get('base.b')!, [4, 3], [1])), delta);
    const got = await tr.predict(b.x);
    expect(given.get('B')!.data.some((v) => v !== 0)).toBe(true);
    got.forEach((v, i) => expect(v).toBeCloseTo(want.data[i], 4));
  });

  it('SingLoRA: the ramp reads the step counter fed at run time (no recompilation)', async () => {
    const checked = checkSource(src('singlora.lily'), 'singlora.lily');
    const dims = { N: 2, In: 3, Out: 2, r: 2, T: 4 };
    const tr = await compileTraining(checked, 'SingLoRA', { dims, optimizer: frozen, params: 'random', keep: ['y'], backend: cpuBackend() });
    const b = batch(2, 3, 2);
    const norms: number[] = [];
    for (let step = 0; step < 6; step++) {
      await tr.step(b);
      norms.push(Math.hypot(...(await compiledDelta(tr, b.x, 2))));
    }
    // u = min(step / 4, 1): 0, 1/4, 2/4, 3/4, 1, 1 of the full update
    const full = norms[4];
    expect(full).toBeGreaterThan(1e-3);
    [0, 0.25, 0.5, 0.75, 1, 1].forEach((u, i) => expect(norms[i]).toBeCloseTo(u * full, 3));
  });

  it('LoRA+: B moves at ratio times the learning rate of A (SGD), and the ratio is in the program metadata', async () => {
    const checked = checkSource(src('lora.lily'), 'lora.lily');
    const dims = { N: 4, In: 3, Out: 2, r: 2, ratio: 4 };
    const tr = await compileTraining(checked, 'LoRAPlus', { dims, optimizer: { kind: 'sgd', lr: 0.1 }, params: 'random', keep: 'gradients' });
    expect([...tr.program.lrScale]).toEqual([['B', 4]]);
    const before = await tr.parameters();
    await tr.step(batch(4, 3, 2));
    const after = await tr.parameters();
    for (const [name, ratio] of [['A', 1], ['B', 4]] as const) {
      const g = await tr.read(`grad:${name}`);
      after.get(name)!.forEach((v, i) => expect(v).toBeCloseTo(before.get(name)![i] - 0.1 * ratio * g[i], 5));
    }
  });
});
