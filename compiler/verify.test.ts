import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from './frontend.ts';
import { verifyAdapter } from './verify.ts';

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
