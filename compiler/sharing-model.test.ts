// `shared across model`: one tensor for every layer an adapter is attached to, whatever the target
// (VB-LoRA's vector bank, Compacter's slow factors) — one IR leaf, counted once, its gradient summed
// over every use; a model-wide parameter whose size differs between layers is a located error.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LilyError } from './diagnostics.ts';
import { checkSource } from './frontend.ts';
import { countParams } from './params.ts';
import { compile } from './pipeline.ts';
import { verifyAdapter } from './verify.ts';

const vblora = readFileSync(new URL('../stdlib/adapters/vblora.lily', import.meta.url), 'utf8');
const model = `${vblora}
model Two(D: Dim = 4, H: Dim = 6) {
  layer q: Linear[D, D] with VBLoRA(r = 2, h = 3, b = 2)
  layer up: Linear[D, H] with VBLoRA(r = 2, h = 3, b = 2)
  forward(x: [N, D]) -> [N, H] = up(relu(q(x)))
}`;

describe('sharing across the model', () => {
  const checked = checkSource(model, 'two.lily');

  it('the bank is one leaf for both targets; logits are per layer', () => {
    const p = compile(checked, 'Two', { settings: { N: 3 }, forwardOnly: true });
    const params = p.graph.live().map((id) => p.graph.node(id)).filter((n) => n.op === 'param' && n.attrs.trainable).map((n) => n.attrs.name as string);
    expect(params.filter((n) => n.endsWith('bank'))).toEqual(['VBLoRA.bank']);
    expect(params.filter((n) => /\.L[AB]$/.test(n)).sort()).toEqual(['q.VBLoRA.LA', 'q.VBLoRA.LB', 'up.VBLoRA.LA', 'up.VBLoRA.LB']);
  });

  it('lily params counts the bank once', () => {
    const count = countParams(checked, checked.units.get('Two')!, {});
    // bank h·b + q's logits r·(D/b)·h ×2 + up's r·(D/b)·h + r·(H/b)·h
    expect(count.trainable).toBe(3 * 2 + 2 * 2 * 3 * 2 + 2 * 2 * 3 + 2 * 3 * 3);
  });

  it("the bank's gradient (summed over both layers) matches finite differences", () => {
    const r = verifyAdapter(checked, 'Two', { runs: 4, seed: 3, fixed: { D: 4, H: 6 } });
    expect(r.failure, JSON.stringify(r.failure)).toBeUndefined();
  });

  it('a model-wide parameter sized by the layer is refused where it is declared', () => {
    const bad = `adapter P(r: Dim = 2) on Linear[In, Out] {
  param S: [In, r] = zeros shared across model
  delta(x: [N, In]) -> [N, Out] = x @ S @ zeros[r, Out]()
}
model M(D: Dim = 4) {
  layer a: Linear[D, D] with P()
  layer b: Linear[2 * D, D] with P()
  forward(x: [N, D]) -> [N, D] = a(x) + b(concat[D](x, x))
}`;
    let err: LilyError | undefined;
    try {
      compile(checkSource(bad, 'bad.lily'), 'M', { settings: { N: 2 } });
    } catch (e) {
      err = e as LilyError;
    }
    expect(err?.diagnostics[0].code).toBe('E-shape');
    expect(err?.diagnostics[0].span?.line).toBe(2);
  });
});
