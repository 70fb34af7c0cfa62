import { describe, expect, it } from 'vitest';
import { rng } from '../init/rng.ts';
import { teacherTask } from './synthetic.ts';

/** The teacher's targets as the definition reads: t[n, o] = b0[o] + Σ_j x[n, j]·(W0 + U V)[j, o] + noise. */
function definition(N: number, In: number, Out: number, W0: Float32Array, b0: Float32Array, seed: number, i: number) {
  const r = rng(seed).fork('teacher');
  const k = 2;
  const U = Float64Array.from({ length: In * k }, () => r.normal() / Math.sqrt(In));
  const V = Float64Array.from({ length: k * Out }, () => r.normal());
  const dW = new Float64Array(In * Out);
  for (let a = 0; a < In; a++) for (let c = 0; c < k; c++) for (let o = 0; o < Out; o++) dW[a * Out + o] += U[a * k + c]! * V[c * Out + o]!;
  const br = rng(seed).fork(`batch:${i}`);
  const x = Float32Array.from({ length: N * In }, () => br.normal());
  const t = new Float32Array(N * Out);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Out; o++) {
      let s = b0[o]!;
      for (let j = 0; j < In; j++) s += x[n * In + j]! * (W0[j * Out + o]! + dW[j * Out + o]!);
      t[n * Out + o] = s + 0.01 * br.normal();
    }
  return { x, t };
}

describe('teacher task (the embedded default data)', () => {
  it('draws the targets its definition gives, bit for bit, and the same batch for the same index', () => {
    for (const [N, In, Out] of [[3, 5, 4], [16, 33, 7]] as const) {
      const r = rng(9);
      const W0 = Float32Array.from({ length: In * Out }, () => r.normal());
      const b0 = Float32Array.from({ length: Out }, () => r.normal());
      const task = teacherTask({ N, In, Out, W0, b0, seed: 4 });
      for (const i of [0, 1, 7]) {
        const got = task.batch(i);
        const want = definition(N, In, Out, W0, b0, 4, i);
        expect(got.x).toEqual(want.x);
        expect(got.t).toEqual(want.t);
      }
      expect(task.batch(1).t).toEqual(task.batch(1).t);
      expect(task.batch(1).t).not.toEqual(task.batch(2).t);
      expect(task.baselineLoss).toBeGreaterThan(0);
    }
  });
});
