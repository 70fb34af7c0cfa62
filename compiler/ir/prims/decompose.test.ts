// The decompose primitive's laziness: a slice of S, U or V computes only what it reads (PiSSA,
// MiLoRA and LoRA-XS read r of K), while S read whole is every value by the QR iteration, as before.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { singularValuesComputed } from '../../../runtime/tensor/bidiagonal-bisect.ts';
import { bidiagonalize } from '../../../runtime/tensor/bidiagonal.ts';
import { bidiagonalValues } from '../../../runtime/tensor/bidiagonal-svd.ts';
import * as T from '../../../runtime/tensor/index.ts';
import { checkSource } from '../../frontend.ts';
import { instantiate } from '../../interp/instance.ts';
import { decomposePart, sliceColumns } from './decompose.ts';

const seeded = (m: number, n: number, seed: number) => {
  let s = seed;
  return T.tensor([m, n], Float64Array.from({ length: m * n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1));
};
/** how many singular values f has computed, by bisection or by the QR iteration */
const computed = (f: () => void) => {
  const before = singularValuesComputed.bisection + singularValuesComputed.qr;
  f();
  return singularValuesComputed.bisection + singularValuesComputed.qr - before;
};

describe('decompose: svd_s', () => {
  it.each([
    ['tall', 40, 30],
    ['wide', 30, 40],
  ])('%s: a slice computes its own values alone, as accurate as the whole S, which is the QR iteration\'s bit for bit', (_, m, n) => {
    const W = seeded(m, n, m);
    const K = Math.min(m, n);
    const S = decomposePart(W, 'svd_s');
    expect(S.shape).toEqual([K]);
    let head!: T.Tensor;
    let tail!: T.Tensor;
    expect(computed(() => (head = sliceColumns(S, 0, 0, 4)))).toBe(4);
    expect(computed(() => (tail = sliceColumns(S, -1, K - 3, K)))).toBe(3);
    expect(computed(() => sliceColumns(S, 0, 0, 4))).toBe(0); // each value once
    expect(computed(() => S.data)).toBe(K); // read whole: every value, by QR
    expect(computed(() => S.data)).toBe(0);
    const b = m >= n ? bidiagonalize(W.data, m, n) : bidiagonalize(T.transpose(W).data, n, m);
    const qr = bidiagonalValues(b.d, b.e);
    expect([...S.data]).toEqual([...qr]);
    [...head.data, ...tail.data].forEach((x, i) => {
      const want = qr[i < 4 ? i : K - 3 + i - 4];
      expect(Math.abs(x - want)).toBeLessThanOrEqual(1e-13 * want);
    });
  });
});

describe('PiSSA, MiLoRA and LoRA-XS compute the r values they read, not all K', () => {
  const source = (f: string) => checkSource(readFileSync(new URL(`../../../stdlib/adapters/${f}`, import.meta.url), 'utf8'), f);
  const [In, Out, r] = [48, 40, 4];
  it.each([
    ['pissa.lily', 'PiSSA', r],
    ['pissa.lily', 'MiLoRA', r + 1], // and the value before the first: where a cluster would start
    ['loraxs.lily', 'LoRAXS', r],
  ])('%s %s', (file, unit, values) => {
    // a fresh base weight: its SVD is cached per tensor
    const given = new Map([['base.W', seeded(In, Out, 5)], ['base.b', T.zeros([Out])]]);
    expect(computed(() => instantiate(source(file), unit, { settings: { In, Out, r }, given }))).toBe(values);
  });
});
