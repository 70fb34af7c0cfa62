// Shared helpers for the tensor/init tests (not part of the library API).

import { expect } from 'vitest';
import fc from 'fast-check';
import { type Nested, type Tensor, allClose, fromNested, numel, tensor, toNested } from './tensor.ts';

/** Fixed-seed fast-check settings so property failures reproduce. */
export const FC = { seed: 42, numRuns: 50 } as const;

/** Assert t has the given nested value (shape and data) within tolerance. */
export function expectTensor(t: Tensor, expected: Nested, tol = { rtol: 1e-12, atol: 1e-12 }): void {
  const e = fromNested(expected);
  expect(t.shape).toEqual(e.shape);
  const r = allClose(t, e, tol);
  if (!r.ok) expect(toNested(t)).toEqual(expected); // prints a readable diff
  expect(r.ok).toBe(true);
}

export function expectClose(a: Tensor, b: Tensor, tol = { rtol: 1e-10, atol: 1e-10 }): void {
  expect(a.shape).toEqual(b.shape);
  const r = allClose(a, b, tol);
  expect(r, `maxAbs=${r.maxAbs} at [${r.index}]`).toMatchObject({ ok: true });
}

/** Arbitrary tensor of a given shape with entries in [-10, 10]. */
export function arbTensor(shape: number[]): fc.Arbitrary<Tensor> {
  const n = numel(shape);
  return fc
    .array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: n, maxLength: n })
    .map((xs) => tensor(shape, xs));
}

/** Arbitrary shape of the given rank with dims in [1, maxDim]. */
export function arbShape(rank: number, maxDim = 4): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: rank, maxLength: rank });
}

/** 0, 1, ..., n-1 reshaped. */
export function arange(shape: number[]): Tensor {
  return tensor(shape, Array.from({ length: numel(shape) }, (_, i) => i));
}
