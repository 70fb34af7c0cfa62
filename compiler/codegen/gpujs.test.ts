// The gpu.js renderer's structure: what every generated source must look like for gpu.js to run it
// correctly in every mode (literal loop bounds, a leading `function`, exact index math), how outputs
// are addressed, and the hoisting/sharing of reduces. Numerics against runPlanReference, in every
// mode, are in runtime/backends/gpujs-exec.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unaryNames } from '../../runtime/tensor/index.ts';
import { createGPU } from '../../runtime/backends/gpujs-modes.ts';
import { runKernelReference } from '../fuse/reference.ts';
import { GPUJS_UNARY, lit, renderGpuJs } from './gpujs.ts';
import * as K from './gpujs-test-kernels.ts';

const all = (cs: K.Case) => cs.plan.kernels.map((k) => renderGpuJs(k, cs.plan));

/** Every `for` header in a source: its bound must be a literal integer. */
function loopBounds(src: string): string[] {
  return [...src.matchAll(/for \(let (\w+) = 0; \1 < ([^;]+); \1\+\+\)/g)].map((m) => m[2]);
}

describe('renderGpuJs: source shape', () => {
  it('starts with exactly `function`, bounds every loop by a literal, and has no while or this.constants', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 9 }), (a, b, c) => {
        for (const cs of [K.matmulEpilogue(a, b, c), K.softmax(a, b), K.reduce2(a, c, b), K.longReduce(a, b), K.elementwiseBroadcast(c, a, b), K.loraStepPlan(a, b, c, c)]) {
          for (const r of all(cs)) {
            expect(r.source.startsWith('function(')).toBe(true);
            expect(r.source).not.toMatch(/while|this\.constants|LOOP_MAX/);
            const nFor = (r.source.match(/\bfor\b/g) ?? []).length;
            const bounds = loopBounds(r.source);
            expect(bounds.length).toBe(nFor); // every loop has the canonical literal-bound form
            for (const bound of bounds) expect(bound).toMatch(/^\d+$/);
          }
        }
      }),
      { seed: 11, numRuns: 20 },
    );
  });

  it('writes a reduce of extent 1500 with the literal bound 1500', () => {
    const [r] = all(K.longReduce(3, 1500));
    expect(loopBounds(r.source)).toEqual(['1500']);
  });

  it('gpu.js really does cut a non-literal loop bound at 1000 (the trap the literal bounds avoid)', async () => {
    const gpu = await createGPU('cpu');
    try {
      const x = new Float32Array(1500).fill(1);
      const literal = gpu.createKernel('function(x, n) { let s = 0; for (let k = 0; k < 1500; k++) { s += x[k]; } return s; }', { output: [1] });
      const fromArg = gpu.createKernel('function(x, n) { let s = 0; for (let k = 0; k < n; k++) { s += x[k]; } return s; }', { output: [1] });
      expect(Array.from((await literal(x, 1500)) as Float32Array)).toEqual([1500]);
      expect(Array.from((await fromArg(x, 1500)) as Float32Array)).toEqual([1000]);
    } finally {
      await gpu.destroy();
    }
  });

  it('lists parameters as the buffers it loads (by id), then the run-time args (by name)', () => {
    const cs = K.argKernel(7, 3);
    const [r] = all(cs);
    expect(r.params).toEqual([
      { kind: 'buffer', buf: 0 },
      { kind: 'buffer', buf: 1 },
      { kind: 'buffer', buf: 2 },
      { kind: 'arg', name: 'e' },
      { kind: 'arg', name: 'eps' },
      { kind: 'arg', name: 'lr' },
    ]);
    expect(r.source.startsWith(`function(${r.argNames.join(', ')}) {`)).toBe(true);
  });
});

describe('renderGpuJs: output addressing', () => {
  const out = (cs: K.Case) => all(cs).map((r) => r.output);

  it('rank 0 -> [1], rank 1 -> [n], rank >= 2 -> [innermost, rest]', () => {
    expect(out(K.loraStepPlan(4, 6, 5, 2))).toEqual([[2, 4], [5, 4], [5, 4], [1], [5, 4], [5, 2], [5, 2]]);
    expect(out(K.argKernel(9, 2))).toEqual([[9]]);
    expect(out(K.elementwiseBroadcast(3, 4, 5))).toEqual([[5, 12]]);
  });

  it('falls back to 1-D when a side of the 2-D output would exceed max2D', () => {
    const cs = K.elementwiseBroadcast(3, 4, 5);
    expect(renderGpuJs(cs.plan.kernels[0], cs.plan, { max2D: 8 }).output).toEqual([60]);
  });

  it('splits a flattened thread index exactly (checked against the reference on cpu for every split)', async () => {
    // 1-D fallback over three loops: every output element must land on its own (a, b, c)
    const cs = K.elementwiseBroadcast(7, 3, 5);
    const k = cs.plan.kernels[0];
    const gpu = await createGPU('cpu');
    try {
      const feeds = K.feedsFor(cs, 2);
      const want = runKernelReference(k, new Map([...feeds].map(([n, v]) => [cs.plan.leaves.get(n)!, Float64Array.from(v)])), {});
      for (const max2D of [16384, 4]) {
        const r = renderGpuJs(k, cs.plan, { max2D });
        const fn = gpu.createKernel(r.source, { output: r.output });
        const args = r.params.map((p) => (p.kind === 'buffer' ? feeds.get(cs.plan.buffers[p.buf].name!)! : 0));
        const got = (await fn(...args)) as Float32Array | Float32Array[];
        const flat = got instanceof Float32Array ? got : Float32Array.from(got.flatMap((row) => Array.from(row)));
        expect(K.closeTo(flat, want)).toBeNull();
      }
    } finally {
      await gpu.destroy();
    }
  });

  it('rejects outputs beyond 2^24 elements and loads outside their buffer', () => {
    const big = K.unaryKernel('exp', false, 2 ** 24 + 1, [0, 1]);
    expect(() => renderGpuJs(big.plan.kernels[0], big.plan)).toThrow(/2\^24/);
    const cs = K.argKernel(8, 2);
    const k = { ...cs.plan.kernels[0], body: K.load(0, [['i', 1]], 1) };
    expect(() => renderGpuJs(k, cs.plan)).toThrow(/outside its 8 elements/);
  });
});

describe('renderGpuJs: reduces are hoisted and shared', () => {
  it('softmax computes the row max once per thread, outside the sum loop', () => {
    const [r] = all(K.softmax(4, 9));
    expect((r.source.match(/\bfor\b/g) ?? []).length).toBe(2); // one max loop, one sum loop
    expect((r.source.match(/Math\.max\(r\d+,/g) ?? []).length).toBe(1);
    const maxAt = r.source.indexOf('Math.max(');
    const sumAt = r.source.indexOf('+=');
    expect(maxAt).toBeGreaterThan(0);
    expect(maxAt).toBeLessThan(sumAt);
  });

  it('a reduce over the same body inside another reduce, depending on its variable, stays inside', () => {
    // out[i] = Σ_j (x[i,j] · Σ_k x[j,k]) — the inner sum depends on j, so it runs inside the j loop
    const cs = K.planOf(
      [{ name: 'x', shape: [3, 3] }, { name: 'out', shape: [3] }],
      [{ name: 'nest', out: 'out', loops: [{ v: 'i', extent: 3 }], body: K.sum([['j', 3]], K.bin('*', K.load(0, [['i', 3], ['j', 1]]), K.sum([['k', 3]], K.load(0, [['j', 3], ['k', 1]])))) }],
      [['out', 'out']],
    );
    const [r] = all({ plan: cs, ranges: {}, args: {} });
    const outer = r.source.indexOf('for (let');
    const inner = r.source.indexOf('for (let', outer + 1);
    const outerClose = r.source.lastIndexOf('}', r.source.indexOf('return'));
    expect(inner).toBeGreaterThan(outer);
    expect(inner).toBeLessThan(outerClose);
  });

  it('shares a repeated subexpression of a unary formula (softplus evaluates e^-|x| once)', () => {
    const [r] = all(K.unaryKernel('softplus', false, 4, [-1, 1]));
    expect((r.source.match(/Math\.exp/g) ?? []).length).toBe(1);
  });
});

describe('GPUJS_UNARY', () => {
  it('has f and df for every unary function of the tensor library', () => {
    for (const fn of unaryNames) {
      expect(typeof GPUJS_UNARY[fn]?.f, fn).toBe('function');
      expect(typeof GPUJS_UNARY[fn]?.df, fn).toBe('function');
    }
  });

  it('uses only Math functions that every gpu.js mode has, and Math.max/min with two arguments', () => {
    const allowed = new Set(['exp', 'log', 'sqrt', 'tanh', 'pow', 'abs', 'floor', 'sign', 'sin', 'cos', 'max', 'min']);
    for (const fn of unaryNames) {
      for (const form of [GPUJS_UNARY[fn].f, GPUJS_UNARY[fn].df]) {
        const src = form('x', (e) => `(${e})`);
        for (const m of src.matchAll(/Math\.(\w+)/g)) expect(allowed.has(m[1]), `${fn}: Math.${m[1]}`).toBe(true);
        // two-argument max/min: no top-level second comma inside the call
        for (const m of src.matchAll(/Math\.(max|min)\(/g)) {
          let depth = 0;
          let commas = 0;
          for (let i = m.index! + m[0].length; i < src.length; i++) {
            const ch = src[i];
            if (ch === '(') depth++;
            else if (ch === ')') {
              if (depth === 0) break;
              depth--;
            } else if (ch === ',' && depth === 0) commas++;
          }
          expect(commas, `${fn}: ${src}`).toBe(1);
        }
      }
    }
  });

  it('writes literals gpu.js accepts', () => {
    expect(lit(2)).toBe('2');
    expect(lit(-0.5)).toBe('(-0.5)');
    expect(lit(-0)).toBe('0');
    expect(lit(Infinity)).toBe('3.4028234663852886e38');
    expect(() => lit(NaN)).toThrow(/NaN/);
  });
});
