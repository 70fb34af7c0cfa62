import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OPTIMIZERS } from '../../compiler/objective.ts';
import { evalStepScalar, type StepScalar } from '../../compiler/step-scalars.ts';
import { compileStepScalars } from './wasm-step-scalars.ts';

describe('the step scalars compiled to wasm', () => {
  it("give AdamW's bias-corrected scalars exactly as PyTorch's formulas in float64, rounded to float32, for 5000 steps", () => {
    const c = { kind: 'adamw' as const, lr: 3e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const ratio = 16;
    const formulas = OPTIMIZERS.adamw(c).scalars(['*', ['*', c.lr, 'scale'], ratio]);
    const fn = compileStepScalars(formulas);
    for (const scale of [1, 0.37]) {
      for (let t = 1; t <= 5000; t++) {
        fn.run(t, scale);
        const lr = c.lr * scale * ratio;
        // the oracle: PyTorch's AdamW with the corrections folded in, written out in JS float64
        const want = [1 - lr * c.weightDecay, (lr * Math.sqrt(1 - c.beta2 ** t)) / (1 - c.beta1 ** t), c.eps * Math.sqrt(1 - c.beta2 ** t)];
        for (let i = 0; i < 3; i++) if (fn.out[i] !== Math.fround(want[i]!)) expect.fail(`t=${t} scale=${scale} arg ${i}: ${fn.out[i]} vs ${Math.fround(want[i]!)}`);
      }
    }
  });

  it('equal evalStepScalar rounded to float32 on random formulas (property)', () => {
    const leaf = fc.oneof(fc.constant<StepScalar>('t'), fc.constant<StepScalar>('scale'), fc.double({ min: -4, max: 4, noNaN: true }));
    const { formula } = fc.letrec<{ formula: StepScalar }>((tie) => ({
      formula: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.tuple(fc.constantFrom('+', '-', '*', '/', 'pow'), tie('formula'), tie('formula')) as fc.Arbitrary<StepScalar>,
        fc.tuple(fc.constant('sqrt'), tie('formula')) as fc.Arbitrary<StepScalar>,
      ),
    }));
    fc.assert(
      fc.property(fc.array(formula, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 100000 }), fc.double({ min: 0, max: 2, noNaN: true }), (fs, t, scale) => {
        const fn = compileStepScalars(fs);
        fn.run(t, scale);
        fs.forEach((f, i) => expect(Object.is(fn.out[i], Math.fround(evalStepScalar(f, t, scale))), `formula ${JSON.stringify(f)}`).toBe(true));
      }),
      { seed: 1307, numRuns: 300 },
    );
  });
});
