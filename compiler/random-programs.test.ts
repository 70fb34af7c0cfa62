// Random well-typed programs (a type-directed generator over the language's constructs): the
// optimised program agrees with the unoptimised one, forward and backward, and with the reference
// interpreter. A failing program is printed, shrunk.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from './frontend.ts';
import { evaluateOutputs } from './ir/evaluate.ts';
import { runEntry } from './interp/run.ts';
import { compile } from './pipeline.ts';
import * as T from '../runtime/tensor/index.ts';

type Kind = 'NIn' | 'Nr' | 'E' | 'NE' | 'NOut';
const gen = fc.letrec<Record<Kind, string>>((tie) => {
  const t = (k: Kind) => tie(k);
  const leafOr = (leaf: fc.Arbitrary<string>, ...rec: fc.Arbitrary<string>[]) => fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, ...rec);
  return {
    NIn: leafOr(fc.constant('x'), t('NIn').map((a) => `(${a}) * u`), t('NIn').map((a) => `tanh(${a})`), fc.tuple(t('NIn'), t('NIn')).map(([a, b]) => `(${a}) + (${b})`)),
    Nr: leafOr(
      t('NIn').map((a) => `(${a}) @ A`),
      t('Nr').map((a) => `(${a}) @ C`),
      t('Nr').map((a) => `relu(${a})`),
      t('Nr').map((a) => `0.5 * (${a})`),
      fc.tuple(t('Nr'), t('Nr')).map(([a, b]) => `(${a}) - (${b})`),
    ),
    E: leafOr(t('Nr').map((a) => `mean[N](softmax[E]((${a}) @ R))`), t('NE').map((a) => `sum[N](${a})`)),
    NE: leafOr(t('Nr').map((a) => `softmax[E]((${a}) @ R)`), fc.tuple(t('NE'), t('E')).map(([a, b]) => `(${a}) * (${b})`)),
    NOut: leafOr(
      t('Nr').map((a) => `(${a}) @ B[0]`),
      fc.tuple(t('E'), t('Nr')).map(([p, h]) => `sum[e]((${p})[e] * ((${h}) @ B[e]))`),
      fc.tuple(t('NE'), t('Nr')).map(([p, h]) => `sum[e]((${p})[:, e] * ((${h}) @ B[e]))`),
      t('Nr').map((h) => `sum[e]((${h}) @ B[e])`),
      t('NOut').map((a) => `(${a}) @ W2`),
      t('NOut').map((a) => `(${a}) * v`),
      t('NOut').map((a) => `exp(0.1 * (${a}))`),
      fc.tuple(t('NOut'), t('NOut')).map(([a, b]) => `(${a}) + (${b})`),
    ),
  };
});

const program = (body: string) => `adapter G(r: Dim = 2, E: Dim = 2) on Linear[In, Out] {
  param A: [In, r] = normal
  param C: [r, r] = normal
  param B: [E, r, Out] = normal
  param R: [r, E] = normal
  param u: [In] = normal
  param v: [Out] = normal
  param W2: [Out, Out] = normal
  delta(x: [N, In]) -> [N, Out] = ${body}
}`;

/** The property, with optional deliberately wrong rules injected into the optimised compile. */
const agree = (faults?: string[]) =>
  fc.property(gen.NOut, dimsArb, (body, dims) => {
    const checked = checkSource(program(body), 'random.lily');
    const naive = compile(checked, 'G', { settings: dims, seed: 1, skip: ['contract'] });
    const opt = compile(checked, 'G', { settings: dims, seed: 1, faults });
    const a = evaluateOutputs(naive.graph, naive.leaves);
    const b = evaluateOutputs(opt.graph, naive.leaves);
    return [...a].every(([k, v]) => T.allClose(b.get(k)!, v, { rtol: 1e-8, atol: 1e-10 }).ok);
  });
const dimsArb = fc.record({ N: fc.integer({ min: 1, max: 3 }), In: fc.integer({ min: 1, max: 3 }), Out: fc.integer({ min: 1, max: 3 }), r: fc.integer({ min: 1, max: 3 }), E: fc.integer({ min: 1, max: 3 }) });

describe('random well-typed programs', () => {
  it('catch a deliberately wrong rewrite rule (mutation check), with a shrunk program', () => {
    for (const fault of ['drop-constant', 'unsound-expert-fold']) {
      const r = fc.check(agree([fault]), { seed: 2026, numRuns: 200 });
      expect(r.failed, `fault ${fault} went unnoticed`).toBe(true);
      expect(String(r.counterexample?.[0]).length).toBeLessThan(120); // shrunk to a small program
    }
    expect(fc.check(agree(), { seed: 2026, numRuns: 30 }).failed).toBe(false);
  }, 180_000); // ~30 s of CPU; minutes of wall time on a loaded 2-core machine

  it('optimised and unoptimised forms agree (forward and all gradients) and match the interpreter', () => {
    fc.assert(
      fc.property(gen.NOut, fc.record({ N: fc.integer({ min: 1, max: 3 }), In: fc.integer({ min: 1, max: 3 }), Out: fc.integer({ min: 1, max: 3 }), r: fc.integer({ min: 1, max: 3 }), E: fc.integer({ min: 1, max: 3 }) }), (body, dims) => {
        const src = program(body);
        const checked = checkSource(src, 'random.lily');
        const naive = compile(checked, 'G', { settings: dims, seed: 1, skip: ['contract'] });
        const opt = compile(checked, 'G', { settings: dims, seed: 1 });
        const a = evaluateOutputs(naive.graph, naive.leaves);
        const b = evaluateOutputs(opt.graph, naive.leaves);
        for (const [k, v] of a) {
          const c = T.allClose(b.get(k)!, v, { rtol: 1e-8, atol: 1e-10 });
          expect(c.ok, `${k} differs at [${c.index}] (max rel ${c.maxRel}) in\n${src}`).toBe(true);
        }
        const params = new Map([...naive.leaves].filter(([k]) => k !== 'x' && k !== 'dy'));
        const ref = runEntry(checked, 'G', { settings: dims, inputs: new Map([['x', naive.leaves.get('x')!]]), given: params }).output;
        expect(T.allClose(a.get('y')!, (ref as { t: T.Tensor }).t, { rtol: 1e-9, atol: 1e-12 }).ok, `lowering differs from the interpreter in\n${src}`).toBe(true);
      }),
      { seed: 2026, numRuns: 120 },
    );
  });
});
