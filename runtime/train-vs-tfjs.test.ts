// Our compiled training step against TensorFlow.js (an independent library) on the same weights and
// batch: the loss, the gradients and the AdamW update agree to float32 precision.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.ts';
import { compileTraining } from './train.ts';
import { createTfjsLilyStep } from './tfjs-oracle/lily-step.ts';
import { cpuBackend } from './backends/cpu-exec.ts';
import { referenceBackend } from './backends/reference-exec.ts';

const lily = checkSource(readFileSync(new URL('../stdlib/adapters/lily.lily', import.meta.url), 'utf8'), 'lily.lily');
const f32 = (t: { data: ArrayLike<number>; shape: number[] }) => ({ data: Float32Array.from(t.data), shape: t.shape });

describe('training step vs TensorFlow.js', () => {
  for (const [backend, ourBackend] of [['cpu', referenceBackend], ['wasm', cpuBackend()]] as const)
    it(`Lily on our ${ourBackend.name} backend: loss, gradients and the AdamW step equal tfjs-backend-${backend}'s`, async () => {
      const dims = { N: 6, In: 5, Out: 4, r: 3, E: 3, scale: 0.7 };
      const adamw = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 };
      const ours = await compileTraining(lily, 'Lily', { dims, params: 'random', seed: 3, keep: 'gradients', backend: ourBackend, optimizer: { kind: 'adamw', ...adamw } });
      const L = ours.program.leaves;
      const x = Float32Array.from({ length: 6 * 5 }, (_, i) => Math.sin(i * 0.9));
      const t = Float32Array.from({ length: 6 * 4 }, (_, i) => Math.cos(i * 0.4));
      const tf = await createTfjsLilyStep(backend, {
        x: { data: x, shape: [6, 5] },
        t: { data: t, shape: [6, 4] },
        W0: f32(L.get('base.W')!),
        b0: f32(L.get('base.b')!),
        A: f32(L.get('A')!),
        R: f32(L.get('R')!),
        B: f32(L.get('B')!),
        s: 0.7,
        adamw,
      });
      const tfGrads = await tf.grads();
      const lossOurs = await ours.step({ x, t });
      const lossTf = await tf.step();
      expect(lossOurs).toBeCloseTo(lossTf, 5);
      for (const name of ['A', 'R', 'B'] as const) {
        const g = await ours.read(`grad:${name}`);
        const want = tfGrads[name];
        expect(g.length).toBe(want.length);
        g.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5 + 1e-4 * Math.abs(want[i])));
      }
      const pOurs = await ours.parameters();
      const pTf = await tf.params();
      for (const name of ['A', 'R', 'B'] as const) pOurs.get(name)!.forEach((v, i) => expect(v).toBeCloseTo(pTf[name][i], 5));
      tf.dispose();
      ours.dispose();
    });
});
