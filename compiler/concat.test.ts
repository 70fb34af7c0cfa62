// concat[axis](a, b): typing, values against a hand-built concatenation, and gradients/kernels via
// lily verify (optimised = naive = interpreter, autodiff = finite differences).
import { describe, expect, it } from 'vitest';
import { checkSource } from './frontend.ts';
import { LilyError } from './diagnostics.ts';
import { runEntry } from './interp/run.ts';
import { verifyAdapter } from './verify.ts';

// A prefix token in front of each row's tokens, as a ViT's class token: [N, T, D] → [N, T + 1, D].
const SRC = `
adapter Prefix(r: Dim = 2) on Linear[In, Out] {
  param A: [In, r] = normal(0.0, 0.5)
  param c: [r] = normal(0.0, 0.5)
  param B: [r, Out] = normal(0.0, 0.5)
  delta(x: [N, In]) -> [N, Out] =
    let h = reshape[N, 1, r](x @ A) in
    let t = concat[1](broadcast[N, 1, r](c), h) in        -- [N, 2, r]
    sum[1](softmax[1](t) * t) @ B
}
fn cat(a: [N, 2], b: [N, 3]) -> [N, 5] = concat[1](a, b)
fn cat0(a: [2, K], b: [1, K]) -> [3, K] = concat[0](a, b)
`;

describe('concat', () => {
  const checked = checkSource(SRC, 'concat.lily');

  it('joins along the given axis (by position, either axis)', () => {
    const a = { shape: [2, 2], data: Float64Array.of(1, 2, 3, 4) };
    const b = { shape: [2, 3], data: Float64Array.of(5, 6, 7, 8, 9, 10) };
    const y = runEntry(checked, 'cat', { settings: {}, inputs: new Map([['a', a], ['b', b]]) }).output as { t: { shape: number[]; data: Float64Array } };
    expect(y.t.shape).toEqual([2, 5]);
    expect([...y.t.data]).toEqual([1, 2, 5, 6, 7, 3, 4, 8, 9, 10]);
    const y0 = runEntry(checked, 'cat0', { settings: {}, inputs: new Map([['a', { shape: [2, 2], data: Float64Array.of(1, 2, 3, 4) }], ['b', { shape: [1, 2], data: Float64Array.of(9, 8) }]]) }).output as { t: { shape: number[]; data: Float64Array } };
    expect(y0.t.shape).toEqual([3, 2]);
    expect([...y0.t.data]).toEqual([1, 2, 3, 4, 9, 8]);
  });

  it('types the result with the summed dimension, and refuses shapes that differ off the axis', () => {
    expect(() => checkSource('fn f(a: [N, 2], b: [N, 3]) -> [N, 6] = concat[1](a, b)', 'bad.lily')).toThrow(LilyError);
    let err: unknown;
    try {
      checkSource('fn f(a: [N, 2], b: [M, 3]) -> [N, 5] = concat[1](a, b)', 'bad.lily');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LilyError);
    expect(String((err as Error).message)).toMatch(/concat needs tensors that agree on every other axis/);
  });

  it('compiles: optimised forward = interpreter, gradients = finite differences', () => {
    const r = verifyAdapter(checked, 'Prefix', { runs: 5, seed: 7 });
    expect(r.failure, JSON.stringify(r.failure)).toBeUndefined();
    expect(r.ok).toBe(true);
  });
});
