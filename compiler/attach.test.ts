// Adapters attached to a model's layers (`layer q: Linear[D, D] with Lily(...)`): the sharing scopes
// become shared IR leaves across the copies of a repeated block (one buffer; autodiff sums its
// gradient over the layers using it), the model's weights are the frozen base, and the counts
// match PEFT's.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from './frontend.ts';
import { countParams } from './params.ts';
import { compile } from './pipeline.ts';
import { verifyAdapter } from './verify.ts';
import { explain } from './explain.ts';

const program = (stride: number) => `
adapter Lily(r: Dim = 2, E: Dim = 2, stride: Int = 1, scale: Float = 1.0) on Linear[In, Out] {
  param A: [In, r]     = kaiming_uniform(a = sqrt(5.0)) shared every stride layers
  param R: [r, E]      = kaiming_uniform(a = sqrt(5.0))
  param B: [E, r, Out] = zeros shared across layers
  delta(x: [N, In]) -> [N, Out] =
    let h = x @ A in
    let p = mean[N](softmax[E](h @ R)) in
    scale * sum[e](p[e] * (h @ B[e]))
}
model Block(D: Dim, r: Dim = 2, E: Dim = 3) {
  layer q: Linear[D, D] with Lily(r = r, E = E, stride = ${stride})
  layer up: Linear[D, D]
  forward(x: [B, T, D]) -> [B, T, D] = x + up(relu(q(x)))
}
model Net(D: Dim = 4, L: Int = 3) {
  layer blocks: Block(D = D) repeat L
  forward(x: [B, T, D]) -> [B, T, D] = blocks(x)
}`;

describe('adapters attached to model layers', () => {
  it("trainable parameters follow PEFT's Lily formula over the L layers of the target; the base is frozen", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), (L, stride, D) => {
        const c = checkSource(program(stride), 'att.lily');
        const count = countParams(c, c.units.get('Net')!, { D, L });
        const [r, E] = [2, 3];
        expect(count.trainable).toBe(Math.ceil(L / stride) * D * r + E * r * D + L * r * E);
        expect(count.frozen).toBe(L * 2 * (D * D + D));
      }),
      { seed: 3, numRuns: 30 },
    );
  });

  it('a shared parameter is one IR leaf used by every layer', () => {
    const c = checkSource(program(2), 'att.lily');
    const p = compile(c, 'Net', { settings: { D: 4, L: 3, B: 2, T: 3 }, forwardOnly: true });
    const leaves = p.graph.live().map((id) => p.graph.node(id)).filter((n) => n.op === 'param').map((n) => n.attrs.name);
    expect(leaves.filter((n) => String(n).endsWith('Lily.B'))).toEqual(['blocks.*.q.Lily.B']);
    expect(leaves.filter((n) => String(n).endsWith('Lily.A')).sort()).toEqual(['blocks.0-1.q.Lily.A', 'blocks.2.q.Lily.A']);
    expect(leaves.filter((n) => String(n).endsWith('Lily.R'))).toHaveLength(3);
  });

  it('verify: shared gradients (summed over layers) equal finite differences; optimised = naive', () => {
    const c = checkSource(program(2), 'att.lily');
    const r = verifyAdapter(c, 'Net', { runs: 5, seed: 1, fixed: { L: 3 } });
    expect(r.failure, JSON.stringify(r.failure)).toBeUndefined();
  });

  it('the expert-sum fold is found in every adapted layer', () => {
    const c = checkSource(program(1), 'att.lily');
    const e = explain(c, 'Net', { D: 16, L: 3, B: 4, T: 32 });
    const folds = e.rewrites.filter((w) => w.program === 'forward' && w.folds.some((f) => f.applied));
    expect(folds).toHaveLength(3);
  });

  it('attaching to a non-Linear layer, or an unknown adapter, is a clear error', () => {
    const bad = checkSource.bind(null);
    expect(() => bad('model M(D: Dim) {\n  layer n: LayerNorm[D] with Lily(r = 2)\n  forward(x: [N, D]) -> [N, D] = n(x)\n}', 'm.lily')).toThrow(/adapters attach to Linear layers; 'n' is a LayerNorm/);
    expect(() => bad(`${program(1)}\nmodel M2(D: Dim) {\n  layer n: LayerNorm[D] with Lily(r = 2)\n  forward(x: [N, D]) -> [N, D] = n(x)\n}`, 'm.lily')).toThrow(/adapters attach to Linear layers/);
    expect(() => bad('model M(D: Dim) {\n  layer q: Linear[D, D] with Nope(r = 2)\n  forward(x: [N, D]) -> [N, D] = q(x)\n}', 'm.lily')).toThrow(/unknown adapter 'Nope'/);
  });
});
