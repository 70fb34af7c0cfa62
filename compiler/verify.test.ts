import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from './frontend.ts';
import { compile } from './pipeline.ts';
import { verifiableEntries, verifyAdapter } from './verify.ts';

const dir = new URL('../stdlib/adapters/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.lily'));

describe('lily verify on every stdlib adapter', () => {
  for (const f of files) {
    const checked = checkSource(readFileSync(new URL(f, dir), 'utf8'), `stdlib/adapters/${f}`);
    for (const [name, unit] of checked.units)
      if (unit.decl.kind === 'adapter')
        it(`${name}: optimised = naive = interpreter, autodiff = finite differences`, () => {
          const r = verifyAdapter(checked, name, { runs: 6, seed: 42 });
          expect(r.failure, JSON.stringify(r.failure)).toBeUndefined();
          expect(r.ok).toBe(true);
        });
  }
});

describe('mutation check: a deliberately wrong rewrite is caught, with a shrunk counterexample', () => {
  const lily = checkSource(readFileSync(new URL('lily.lily', dir), 'utf8'), 'lily.lily');
  const lora = checkSource(readFileSync(new URL('lora.lily', dir), 'utf8'), 'lora.lily');

  it('folding a per-token router into one B (the unsound rewrite) fails the forward property', () => {
    const r = verifyAdapter(lily, 'LilyToken', { runs: 25, seed: 42, faults: ['unsound-expert-fold'] });
    expect(r.ok).toBe(false);
    expect(r.failure?.property).toBe('forward');
    expect(r.failure?.detail).toMatch(/^y\[/);
    // Shrinking reaches a tiny case.
    expect(Object.values(r.failure!.dims).every((v) => typeof v !== "number" || v <= 3), JSON.stringify(r.failure)).toBe(true);
  });

  it('dropping a scale factor fails', () => {
    const r = verifyAdapter(lora, 'LoRA', { runs: 25, seed: 42, faults: ['drop-constant'] });
    expect(r.ok).toBe(false);
  });

  it('the same adapters pass without the fault', () => {
    expect(verifyAdapter(lily, 'LilyToken', { runs: 5, seed: 42 }).ok).toBe(true);
  });
});

describe('verify on a file of models and functions', () => {
  const src = `model Two(D: Dim = 3) {
  layer fc: Linear[D, D]
  forward(x: [N, D]) -> [N, D] = fc(tanh(x))
}
fn affine(x: [N, I], w: [I, O], b: [O]) -> [N, O] = x @ w + b
fn scaled(x: [N], a: Float) -> [N] = a * x * x
`;
  const checked = checkSource(src, 'mixed.lily');

  it('verifies a function, with gradients in every argument (not only x)', () => {
    const p = compile(checked, 'affine', { settings: { N: 2, I: 3, O: 4 }, gradInputs: true });
    expect([...p.graph.outputs.keys()].sort()).toEqual(['grad:b', 'grad:w', 'grad:x', 'y']);
    expect(verifyAdapter(checked, 'affine', { runs: 4, seed: 1 }).ok).toBe(true);
  });

  it('lists what it can verify and says why it cannot verify the rest', () => {
    expect(verifiableEntries(checked)).toEqual([
      { name: 'Two', kind: 'model' },
      { name: 'affine', kind: 'function' },
      { name: 'scaled', kind: 'function', skip: "its scalar argument 'a' needs a value: give a=… with --dims" },
    ]);
    expect(verifiableEntries(checked, { a: 0.5 })[2].skip).toBeUndefined();
    expect(() => verifyAdapter(checked, 'scaled')).toThrow(/cannot verify scaled: its scalar argument 'a'/);
    expect(verifyAdapter(checked, 'scaled', { runs: 3, seed: 1, fixed: { a: 0.5 } }).ok).toBe(true);
  });
});
