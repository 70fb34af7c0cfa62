// C3A against PyTorch float64 (spec/fixtures/c3a.json, made by make-c3a.py with PEFT's FFT form):
// the adapter's output equals PEFT's, and equals x ΔW for the full block-circulant ΔW built entry by
// entry — while the compiled step's FLOPs stay below the dense product's (ΔW is never built).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as T from '../runtime/tensor/index.ts';
import { checkSource } from './frontend.ts';
import { runEntry } from './interp/run.ts';
import { compile, flopsSplit } from './pipeline.ts';

const fx = JSON.parse(readFileSync(new URL('../spec/fixtures/c3a.json', import.meta.url), 'utf8'));
const c3a = checkSource(readFileSync(new URL('../stdlib/adapters/c3a.lily', import.meta.url), 'utf8'), 'c3a.lily');
const nested = (v: number[] | number[][] | number[][][]): T.Tensor => {
  const shape: number[] = [];
  for (let a: unknown = v; Array.isArray(a); a = a[0]) shape.push(a.length);
  return T.tensor(shape, Float64Array.from((v as number[]).flat(3) as number[]));
};

describe('C3A', () => {
  const settings = { N: fx.N, In: fx.In, Out: fx.Out, b: fx.b };
  const y = (runEntry(c3a, 'C3A', { settings, inputs: new Map([['x', nested(fx.x)]]), given: new Map([['w', nested(fx.w)]]) }).output as { t: T.Tensor }).t;

  it("equals PEFT's FFT form (PyTorch float64)", () => {
    const want = nested(fx.dy);
    y.data.forEach((v, i) => expect(Math.abs(v - want.data[i])).toBeLessThan(1e-12));
  });

  it('equals x ΔW for the block-circulant ΔW', () => {
    const want = T.matmul(nested(fx.x), nested(fx.dW_over_In));
    y.data.forEach((v, i) => expect(Math.abs(v - want.data[i])).toBeLessThan(1e-12));
  });

  it('the step does fewer FLOPs than the dense N·In·Out product at a realistic shape; the DFT matrices are computed once', () => {
    const p = compile(c3a, 'C3A', { settings: { N: 64, In: 768, Out: 768, b: 16 }, forwardOnly: true });
    expect(flopsSplit(p.graph).forward).toBeLessThan((2 * 64 * 768 * 768) / 2);
    expect(p.hoisted?.length).toBeGreaterThan(0);
  });
});
