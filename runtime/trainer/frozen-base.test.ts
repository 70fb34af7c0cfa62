// Frozen means frozen: with adapters attached, training changes the adapter parameters (and their
// optimiser moments) and nothing else — every base tensor (Linear weights and biases, layer norms,
// the model's own params) is bit-identical after training.
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../compiler/frontend.ts';
import { adapterParamPath } from '../../compiler/interp/instance.ts';
import { resolveBackend } from '../backends/select.ts';
import { compileTraining } from '../train.ts';

const source = `
adapter Lily(r: Dim = 2, E: Dim = 2) on Linear[In, Out] {
  param A: [In, r]     = kaiming_uniform(a = sqrt(5.0))
  param R: [r, E]      = kaiming_uniform(a = sqrt(5.0))
  param B: [E, r, Out] = zeros shared across layers
  delta(x: [N, In]) -> [N, Out] =
    let h = x @ A in
    let p = mean[N](softmax[E](h @ R)) in
    sum[e](p[e] * (h @ B[e]))
}
model Net(D: Dim = 6, K: Dim = 3) {
  param shift: [D] = normal(0.0, 0.5)
  layer ln: LayerNorm[D]
  layer fc: Linear[D, D] with Lily(r = 2, E = 2)
  layer head: Linear[D, K]
  forward(x: [N, D]) -> [N, K] = head(relu(fc(ln(x + shift))))
}
`;

describe('frozen base', () => {
  it('every base tensor is bit-identical after training; the adapter parameters change', async () => {
    const checked = checkSource(source, 'net.lily');
    const N = 8;
    const trainer = await compileTraining(checked, 'Net', { dims: { N }, backend: (await resolveBackend('cpu')).backend, optimizer: { kind: 'adamw', lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 }, seed: 1 });
    const updated = new Set((await trainer.trainState()).keys());
    const inputs = (n: string) => n === 'x' || n === 't' || n.startsWith('arg:');
    const base = [...trainer.plan.leaves.keys()].filter((n) => !updated.has(n) && !inputs(n));
    // The base really is there: the layer norm, the model's param, both Linear layers.
    expect(base).toEqual(expect.arrayContaining(['shift', 'ln.g', 'ln.b', 'fc.W', 'fc.b', 'head.W', 'head.b']));
    // Only adapter parameters (and their moments) are trained.
    const trained = [...updated].filter((n) => !/^[mv]:/.test(n));
    expect(trained.length).toBeGreaterThan(0);
    expect(trained.filter((n) => !adapterParamPath(checked, n))).toEqual([]);
    const read = async (names: string[]) => new Map(await Promise.all(names.map(async (n) => [n, await trainer.read(n)] as const)));
    const before = await read(base);
    const paramsBefore = await trainer.parameters();
    for (let i = 0; i < 20; i++)
      await trainer.step({ x: Float32Array.from({ length: N * 6 }, (_, j) => Math.sin(j * 0.37 + i)), t: Float32Array.from({ length: N * 3 }, (_, j) => Math.cos(j * 0.11 * (i + 1))) });
    const after = await read(base);
    for (const n of base) expect(Buffer.from(after.get(n)!.buffer).equals(Buffer.from(before.get(n)!.buffer)), n).toBe(true);
    const paramsAfter = await trainer.parameters();
    for (const n of trained) expect([...paramsAfter.get(n)!], n).not.toEqual([...paramsBefore.get(n)!]);
    trainer.dispose();
  });
});
