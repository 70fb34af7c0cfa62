import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matmulInto } from './linalg.ts';
import { matmulWasm } from './matmul-wasm.ts';

const bits = (x: Float64Array) => [...x].map((v) => (Object.is(v, -0) ? '-0' : v));

/** a matrix product's operands at offsets into larger arrays, entries ordinary, zero, ±0-producing, tiny or huge */
const product = fc
  .tuple(fc.integer({ min: 1, max: 11 }), fc.integer({ min: 1, max: 9 }), fc.oneof(fc.integer({ min: 1, max: 11 }), fc.integer({ min: 30, max: 40 })), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1e6 }))
  .map(([M, K, N, off, seed]) => {
    let s = seed;
    const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const entry = () => {
      const u = next();
      if (u < 0.1) return 0;
      if (u < 0.15) return -0;
      if (u < 0.2) return (next() - 0.5) * 2 ** (Math.floor(next() * 2000) - 1000); // tiny to huge: rounding, overflow, subnormals
      return next() * 2 - 1;
    };
    return { M, K, N, off, a: Float64Array.from({ length: M * K + off }, entry), b: Float64Array.from({ length: K * N + off }, entry) };
  });

describe('matmul in WebAssembly', () => {
  it('is there in Node (else linalg.ts would run its JavaScript loops unnoticed)', () => {
    const out = new Float64Array(1);
    expect(matmulWasm(Float64Array.of(3), 0, Float64Array.of(2), 0, out, 0, 1, 1, 1)).toBe(true);
    expect(out[0]).toBe(6);
  });

  it('gives the JavaScript loops\' products bit for bit, at offsets, every tile and strip shape (property)', () => {
    fc.assert(
      fc.property(product, ({ M, K, N, off, a, b }) => {
        const loop = new Float64Array(M * N + off).fill(7);
        const fast = loop.slice();
        matmulInto(a, off, b, off, loop, off, M, K, N, { wasm: false });
        expect(matmulWasm(a, off, b, off, fast, off, M, K, N)).toBe(true);
        expect(bits(fast)).toEqual(bits(loop));
      }),
      { seed: 21, numRuns: 200 },
    );
  });

  it('gives the same bits at PiSSA\'s shape (768×16 @ 16×768, strips of columns) through matmulInto', () => {
    let s = 9;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const [M, K, N] = [130, 16, 771];
    const a = Float64Array.from({ length: M * K }, rnd);
    const b = Float64Array.from({ length: K * N }, rnd);
    const [loop, fast] = [new Float64Array(M * N), new Float64Array(M * N)];
    matmulInto(a, 0, b, 0, loop, 0, M, K, N, { wasm: false });
    matmulInto(a, 0, b, 0, fast, 0, M, K, N);
    expect(bits(fast)).toEqual(bits(loop));
  });
});
