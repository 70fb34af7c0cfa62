import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { rng, rngAt, xoshiro128ssStep } from './rng.ts';
import { QUAD_CHUNK, UNIFORM_CHUNK, uniformWasm, uniformWasmInto4 } from './uniform-wasm.ts';
import { FC } from '../tensor/test-util.ts';

const draw = (r: { next(): number }, n: number): number[] => Array.from({ length: n }, () => r.next());

function correlation(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe('rng', () => {
  it('xoshiro128** matches the reference C implementation', () => {
    // Outputs of Vigna's xoshiro128starstar.c from state {1, 2, 3, 4}: first 8, then the 1001st.
    const s = Uint32Array.of(1, 2, 3, 4);
    const first = Array.from({ length: 8 }, () => xoshiro128ssStep(s));
    expect(first).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849]);
    for (let i = 0; i < 992; i++) xoshiro128ssStep(s);
    expect(xoshiro128ssStep(s)).toBe(136054147);
  });
  it('golden streams: changing seeding or forking breaks reproducibility of saved inits', () => {
    const r = rng(0);
    expect([r.uint32(), r.uint32(), r.uint32()]).toEqual([303316162, 4146875174, 1596986183]);
    const f = rng(42).fork('layer3.lily_A');
    expect([f.uint32(), f.uint32(), f.uint32()]).toEqual([2669020885, 1957950483, 61407387]);
  });
  it('uniformInto draws the same numbers as uniform() one by one, and continues the stream (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(40), fc.double({ min: -3, max: 0, noNaN: true }), fc.double({ min: 0.1, max: 3, noNaN: true }), (seed, n, low, width) => {
        const one = rng(seed);
        const bulk = rng(seed);
        const want = Array.from({ length: n }, () => one.uniform(low, low + width));
        const got = new Float64Array(n);
        bulk.uniformInto(got, low, low + width);
        expect([...got]).toEqual(want);
        expect(bulk.uint32()).toBe(one.uint32());
      }),
      FC,
    );
  });
  it('normalInto draws the same numbers as normal() one by one, from any point of a pair (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(3), fc.nat(40), (seed, before, n) => {
        const one = rng(seed);
        const bulk = rng(seed);
        for (let i = 0; i < before; i++) expect(bulk.normal()).toBe(one.normal());
        const want = Array.from({ length: n }, () => one.normal(0.5, 2));
        const got = new Float64Array(n);
        bulk.normalInto(got, 0.5, 2);
        expect([...got]).toEqual(want);
        expect(bulk.normal()).toBe(one.normal());
      }),
      FC,
    );
  });
  it('normalInto across its chunks of uniforms (more than 4096 pairs) draws the same numbers as normal()', () => {
    for (const before of [0, 1]) {
      const one = rng(11);
      const bulk = rng(11);
      for (let i = 0; i < before; i++) expect(bulk.normal()).toBe(one.normal());
      const n = 2 * 4096 * 2 + 3;
      const want = Float64Array.from({ length: n }, () => one.normal(0.5, 2));
      const got = new Float64Array(n);
      bulk.normalInto(got, 0.5, 2);
      expect(got).toEqual(want);
      expect(bulk.normal()).toBe(one.normal());
    }
  });
  it('into a Float32Array: each number the float64 draw rounded once (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(3), fc.nat(40), (seed, before, n) => {
        const one = rng(seed);
        const bulk = rng(seed);
        for (let i = 0; i < before; i++) expect(bulk.normal()).toBe(one.normal());
        const want = new Float64Array(n);
        const got = new Float32Array(n);
        one.normalInto(want, 0.5, 2);
        bulk.normalInto(got, 0.5, 2);
        expect([...got]).toEqual([...want].map(Math.fround));
        one.uniformInto(want, -1, 3);
        bulk.uniformInto(got, -1, 3);
        expect([...got]).toEqual([...want].map(Math.fround));
        expect(bulk.normal()).toBe(one.normal());
      }),
      FC,
    );
  });
  it('clone() continues from the same point (and the same cached normal) independently', () => {
    for (const before of [0, 1, 2]) {
      const a = rng(5);
      for (let i = 0; i < before; i++) a.normal();
      const b = a.clone();
      const fromA = [a.normal(), a.next(), a.normal()];
      expect([b.normal(), b.next(), b.normal()]).toEqual(fromA);
      expect(b.fork('x').next()).toBe(a.fork('x').next());
      const c = rngAt(JSON.parse(JSON.stringify(a.state()))); // plain data, e.g. posted to a worker
      expect([c.normal(), c.next()]).toEqual([a.normal(), a.next()]);
    }
  });
  it('uniformInto in WebAssembly (≥ 64 values, chunks of 16384) draws the same numbers as uniform(), float64 and float32', () => {
    expect(uniformWasm()).not.toBeNull(); // else the JS loop would be all this compares
    expect([uniformWasm()!.f64.length, uniformWasm()!.f64.byteOffset]).toEqual([UNIFORM_CHUNK, 64]); // uniformWasmOf's literals
    for (const n of [64, 1000, 2 * UNIFORM_CHUNK + 77]) {
      const one = rng(n);
      const want = Float64Array.from({ length: n }, () => one.uniform(-0.7, 1.9));
      const bulk = rng(n);
      const got = new Float64Array(n);
      bulk.uniformInto(got, -0.7, 1.9);
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `float64, ${n} values`).toBe(true);
      expect(bulk.uint32()).toBe(one.uint32()); // and the stream goes on from the same point
      const got32 = new Float32Array(n);
      rng(n).uniformInto(got32, -0.7, 1.9);
      expect(Buffer.from(got32.buffer).equals(Buffer.from(new Float32Array(want).buffer)), `float32, ${n} values`).toBe(true);
    }
  });
  it('four streams at once in WebAssembly SIMD lanes (uniformWasmInto4) draw the numbers uniform() draws for each, and go on from the same points', () => {
    const wasm = uniformWasm()!;
    expect([wasm.quadValues.byteOffset, wasm.quadValues.length, wasm.quadState.byteOffset]).toEqual([64, 4 * QUAD_CHUNK, 4 * 65536 - 256]); // uniformWasmOf's literals
    // lengths: equal, one short, more than one chunk, unequal tails (the rest of each drawn one stream at a time)
    for (const lens of [[5, 5, 5, 5], [QUAD_CHUNK + 3, 2 * QUAD_CHUNK + 9, QUAD_CHUNK + 3, QUAD_CHUNK + 100], [1, 0, 7, 3]]) {
      const lows = [-1, -0.5, 0, -0.07];
      const highs = [1, 0.5, 3, 0.07];
      const streams = lens.map((_, j) => rng(11).fork(`w${j}`));
      const want = lens.map((n, j) => {
        const one = streams[j]!.clone();
        return new Float32Array(Float64Array.from({ length: n }, () => one.uniform(lows[j]!, highs[j]!)));
      });
      const states = streams.map((r) => Uint32Array.from(r.state().s));
      const got = lens.map((n) => new Float32Array(n));
      uniformWasmInto4(wasm, states, got, lows, highs);
      for (let j = 0; j < 4; j++) {
        expect(Buffer.from(got[j]!.buffer).equals(Buffer.from(want[j]!.buffer)), `stream ${j} of [${lens}]`).toBe(true);
        const after = streams[j]!.clone();
        for (let i = 0; i < lens[j]!; i++) after.next();
        expect([...states[j]!], `stream ${j} state`).toEqual(after.state().s);
      }
    }
  });
  it('is deterministic per seed and differs across seeds (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (s, t) => {
        fc.pre(s !== t);
        expect(draw(rng(s), 8)).toEqual(draw(rng(s), 8));
        expect(draw(rng(s), 8)).not.toEqual(draw(rng(t), 8));
      }),
      FC,
    );
  });
  it('distinguishes seeds that agree in their low 32 bits, and negative seeds', () => {
    expect(draw(rng(1), 4)).not.toEqual(draw(rng(1 + 2 ** 32), 4));
    expect(draw(rng(-1), 4)).not.toEqual(draw(rng(2 ** 32 - 1), 4));
    expect(() => rng(1.5)).toThrow(/safe integer/);
  });
  it('next() is in [0, 1) with uniform moments', () => {
    const xs = draw(rng(7), 100_000);
    for (const x of xs) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const v = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    // sd of the sample mean is sqrt(1/12/1e5) ~ 9e-4
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(v - 1 / 12)).toBeLessThan(0.002);
    // ten equal bins, each within 5% of 10k
    const bins = new Array(10).fill(0);
    for (const x of xs) bins[Math.floor(x * 10)]++;
    for (const b of bins) expect(Math.abs(b - 10_000)).toBeLessThan(500);
  });
  it('normal() has mean 0, variance 1, and normal tails', () => {
    const r = rng(11);
    const zs = Array.from({ length: 100_000 }, () => r.normal());
    const mean = zs.reduce((s, x) => s + x, 0) / zs.length;
    const v = zs.reduce((s, x) => s + (x - mean) ** 2, 0) / zs.length;
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(v - 1)).toBeLessThan(0.02);
    const beyond2 = zs.filter((z) => Math.abs(z) > 2).length / zs.length;
    expect(Math.abs(beyond2 - 0.0455)).toBeLessThan(0.004);
    const r2 = rng(11);
    expect(r2.normal(3, 2)).toBeCloseTo(3 + 2 * zs[0], 12);
  });
  it('int and uniform respect their ranges', () => {
    const r = rng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const k = r.int(5);
      expect(Number.isInteger(k) && k >= 0 && k < 5).toBe(true);
      seen.add(k);
      const u = r.uniform(-2, 3);
      expect(u >= -2 && u < 3).toBe(true);
    }
    expect(seen.size).toBe(5);
    expect(() => r.int(0)).toThrow();
  });
});

describe('fork', () => {
  it('is reproducible and independent of draws from the parent', () => {
    const a = rng(42);
    const b = rng(42);
    draw(b, 17);
    b.normal();
    b.fork('other').next();
    expect(draw(a.fork('layer3.lily_A'), 5)).toEqual(draw(b.fork('layer3.lily_A'), 5));
  });
  it('differs by label, by seed, from the parent, and by nesting', () => {
    const base = draw(rng(42).fork('layer3.lily_A'), 5);
    expect(draw(rng(42).fork('layer3.lily_B'), 5)).not.toEqual(base);
    expect(draw(rng(43).fork('layer3.lily_A'), 5)).not.toEqual(base);
    expect(draw(rng(42), 5)).not.toEqual(base);
    expect(draw(rng(42).fork(''), 5)).not.toEqual(draw(rng(42), 5));
    expect(draw(rng(42).fork('a').fork('b'), 5)).not.toEqual(draw(rng(42).fork('ab'), 5));
    // Byte-length framing: "a\0" and "a" pack to the same word but must differ.
    expect(draw(rng(42).fork('a\0'), 5)).not.toEqual(draw(rng(42).fork('a'), 5));
    // Non-ASCII labels are hashed as UTF-8.
    expect(draw(rng(42).fork('é'), 5)).not.toEqual(draw(rng(42).fork('e'), 5));
  });
  it('forked streams are uncorrelated with each other and with the parent (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (seed, l1, l2) => {
        fc.pre(l1 !== l2);
        const x = draw(rng(seed).fork(l1), 2000);
        const y = draw(rng(seed).fork(l2), 2000);
        const p = draw(rng(seed), 2000);
        // sd of a null correlation over 2000 pairs is ~0.022; 0.1 is > 4 sd
        expect(Math.abs(correlation(x, y))).toBeLessThan(0.1);
        expect(Math.abs(correlation(x, p))).toBeLessThan(0.1);
        // and not merely shifted copies of one another
        expect(Math.abs(correlation(x.slice(1), y.slice(0, -1)))).toBeLessThan(0.1);
      }),
      FC,
    );
  });
});
