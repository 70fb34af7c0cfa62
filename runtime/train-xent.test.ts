// The cross-entropy objective: loss and gradient equal a hand-written float64 computation.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.ts';
import { compileTraining } from './train.ts';

const lora = checkSource(readFileSync(new URL('../stdlib/adapters/lora.lily', import.meta.url), 'utf8'), 'lora.lily');

describe('cross-entropy training objective', () => {
  it('loss = −mean log softmax(y)[label]; dB = s·(xA)ᵀ(softmax(y) − t)/N', async () => {
    const [N, In, Out, r] = [4, 3, 5, 2];
    const tr = await compileTraining(lora, 'LoRA', { dims: { N, In, Out, r }, params: 'random', seed: 2, loss: 'xent', keep: 'gradients', optimizer: { kind: 'sgd', lr: 0 } });
    const L = tr.program.leaves;
    const [W, b, A, B] = ['base.W', 'base.b', 'A', 'B'].map((k) => L.get(k)!.data);
    const s = 8 / r; // LoRA's alpha / r with the stdlib defaults
    const x = Float32Array.from({ length: N * In }, (_, i) => Math.sin(i + 0.5));
    const labels = [0, 3, 4, 1];
    const t = new Float32Array(N * Out);
    labels.forEach((c, n) => (t[n * Out + c] = 1));
    const h = (n: number, k: number) => [...Array(In).keys()].reduce((acc, i) => acc + x[n * In + i] * A[i * r + k], 0);
    let loss = 0;
    const g = new Float64Array(N * Out);
    for (let n = 0; n < N; n++) {
      const y = [...Array(Out).keys()].map((o) => b[o] + [...Array(In).keys()].reduce((acc, i) => acc + x[n * In + i] * W[i * Out + o], 0) + s * [...Array(r).keys()].reduce((acc, k) => acc + h(n, k) * B[k * Out + o], 0));
      const m = Math.max(...y);
      const z = y.map((v) => Math.exp(v - m));
      const Z = z.reduce((a, c) => a + c);
      loss -= Math.log(z[labels[n]] / Z) / N;
      for (let o = 0; o < Out; o++) g[n * Out + o] = (z[o] / Z - t[n * Out + o]) / N;
    }
    expect(await tr.step({ x, t })).toBeCloseTo(loss, 5);
    const dB = await tr.read('grad:B');
    for (let k = 0; k < r; k++)
      for (let o = 0; o < Out; o++) {
        const want = s * [...Array(N).keys()].reduce((acc, n) => acc + h(n, k) * g[n * Out + o], 0);
        expect(dB[k * Out + o]).toBeCloseTo(want, 5);
      }
  });
});
