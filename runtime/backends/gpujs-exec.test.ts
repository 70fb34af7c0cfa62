/**
 * gpu.js backends against the float64 reference executor (compiler/fuse/reference.ts): hand-built
 * kernels of every kind over random shapes (fast-check, fixed seeds), every unary function and its
 * derivative, offsets above 2^24, a reduce of extent 1500, and a whole training-step plan run for
 * several steps with `assign`, on cpu, webasm and webgpu (llvmpipe here; skipped with the reason
 * printed when `openWebGPU()` fails). On webgpu: no readback and no re-upload of leaves inside
 * `run()`, and no GPU buffer leaks across runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkSource } from '../../compiler/frontend.ts';
import { planKernels } from '../../compiler/fuse/fuse.ts';
import { compile } from '../../compiler/pipeline.ts';
import { runPlanReference } from '../../compiler/fuse/reference.ts';
import * as K from '../../compiler/codegen/gpujs-test-kernels.ts';
import { unaryNames, type UnaryName } from '../tensor/index.ts';
import { gpuJsBackend, type GpuJsBackendMode, type GpuJsExecutable } from './gpujs-exec.ts';
import { openWebGPU } from './webgpu-node.ts';

const MODES = ['cpu', 'webasm', 'webgpu'] as const;

/** Skip (printing why) when the mode cannot run here. */
async function backendOr(mode: GpuJsBackendMode, ctx: { skip: (note?: string) => void }) {
  if (mode === 'webgpu') {
    const w = await openWebGPU();
    if ('error' in w) {
      ctx.skip(`webgpu unavailable: ${w.error}`);
    }
  }
  const be = gpuJsBackend(mode);
  const a = await be.available();
  if (!a.ok) {
    ctx.skip(`${mode} unavailable: ${a.reason}`);
  }
  return be;
}

/** Prepare, feed, run once; compare every output with the reference. Returns the executable (disposed). */
async function check(mode: GpuJsBackendMode, be: ReturnType<typeof gpuJsBackend>, cs: K.Case, seed: number, rtol = 1e-4): Promise<GpuJsExecutable> {
  const ex = (await be.prepare(cs.plan)) as GpuJsExecutable;
  try {
    const feeds = K.feedsFor(cs, seed);
    for (const [n, v] of feeds) await ex.set(n, v);
    await ex.run(cs.args);
    const want = runPlanReference(cs.plan, K.asTensors(cs.plan, feeds), cs.args);
    for (const [name] of cs.plan.outputs) {
      const miss = K.closeTo(await ex.read(name), want.get(name)!.data, rtol);
      if (miss) expect.fail(`${mode} ${cs.plan.kernels.map((k) => k.name).join('+')} ${name}: ${miss}`);
    }
    for (const k of ex.stats.kernels) expect(k.mode, `${k.name} built in ${k.mode}, not ${mode}`).toBe(mode);
    return ex;
  } finally {
    ex.dispose();
  }
}

const dim = (max: number) => fc.integer({ min: 1, max });

for (const mode of MODES) {
  describe(`gpujs-${mode} equals the float64 reference`, () => {
    it('matmul with an epilogue (gelu, bias, arg)', async (ctx) => {
      const be = await backendOr(mode, ctx);
      await fc.assert(
        fc.asyncProperty(dim(20), dim(40), dim(20), fc.nat(1000), async (m, k, n, seed) => void (await check(mode, be, K.matmulEpilogue(m, k, n), seed))),
        { seed: 101, numRuns: 4 },
      );
    });

    it('elementwise chain over rank 3 with broadcast and transposed loads', async (ctx) => {
      const be = await backendOr(mode, ctx);
      await fc.assert(
        fc.asyncProperty(dim(6), dim(6), dim(9), fc.nat(1000), async (a, b, c, seed) => void (await check(mode, be, K.elementwiseBroadcast(a, b, c), seed))),
        { seed: 102, numRuns: 4 },
      );
    });

    it('softmax as nested reduces', async (ctx) => {
      const be = await backendOr(mode, ctx);
      await fc.assert(
        fc.asyncProperty(dim(12), dim(30), fc.nat(1000), async (r, c, seed) => void (await check(mode, be, K.softmax(r, c), seed))),
        { seed: 103, numRuns: 4 },
      );
    });

    it('sum and max over two variables (pow of a negative base)', async (ctx) => {
      const be = await backendOr(mode, ctx);
      await fc.assert(
        fc.asyncProperty(dim(7), dim(9), dim(7), fc.nat(1000), async (i, j, k, seed) => void (await check(mode, be, K.reduce2(i, j, k), seed))),
        { seed: 104, numRuns: 4 },
      );
    });

    it('a kernel with run-time args (integer exponent as an arg, negative bases)', async (ctx) => {
      const be = await backendOr(mode, ctx);
      await fc.assert(
        fc.asyncProperty(dim(300), fc.integer({ min: -3, max: 4 }), fc.nat(1000), async (n, e, seed) => void (await check(mode, be, K.argKernel(n, e), seed, 2e-4))),
        { seed: 105, numRuns: 4 },
      );
    });

    it('a reduce of extent 1500 sums all 1500 terms (a non-literal bound would stop at 1000)', async (ctx) => {
      const be = await backendOr(mode, ctx);
      await check(mode, be, K.longReduce(5, 1500), 7);
    });

    it('every unary function and derivative (one plan of 2 kernels per function), and their extremes', async (ctx) => {
      const be = await backendOr(mode, ctx);
      const positive = new Set<UnaryName>(['log', 'sqrt', 'rsqrt', 'recip']);
      const n = 64;
      const bufs = [{ name: 'xs', shape: [n] }, { name: 'xp', shape: [n] }, { name: 'xe', shape: [9] }];
      const kernels: Parameters<typeof K.planOf>[1] = [];
      const outputs: [string, string][] = [];
      for (const fn of unaryNames) {
        for (const grad of [false, true]) {
          const name = `${grad ? 'd' : ''}${fn}`;
          const src = positive.has(fn) ? 1 : 0;
          bufs.push({ name, shape: [n] });
          kernels.push({ name, out: name, loops: [{ v: 'i', extent: n }], body: (grad ? K.ung : K.un)(fn, K.load(src, [['i', 1]])) });
          outputs.push([name, name]);
          if (!positive.has(fn)) {
            bufs.push({ name: `${name}!`, shape: [9] });
            kernels.push({ name: `${name}!`, out: `${name}!`, loops: [{ v: 'i', extent: 9 }], body: (grad ? K.ung : K.un)(fn, K.load(2, [['i', 1]])) });
            outputs.push([`${name}!`, `${name}!`]);
          }
        }
      }
      const plan = K.planOf(bufs, kernels, outputs);
      const extremes = Float32Array.from([-100, -30, -12, -0.5, 0, 0.5, 12, 30, 100]);
      const exps = new Set(['exp', 'dexp', 'exp!', 'dexp!']);
      const ex = (await be.prepare(plan)) as GpuJsExecutable;
      try {
        const xs = K.fill(n, [-5, 5], 3);
        const xp = K.fill(n, [0.05, 5], 4);
        await ex.set('xs', xs);
        await ex.set('xp', xp);
        await ex.set('xe', extremes);
        await ex.run();
        const want = runPlanReference(plan, K.asTensors(plan, new Map([['xs', xs], ['xp', xp], ['xe', extremes]])));
        for (const [name] of outputs) {
          // exp(±100) over/underflows f32 like any f32 exp would; the clamps are what is tested elsewhere
          if (exps.has(name) && name.endsWith('!')) continue;
          const miss = K.closeTo(await ex.read(name), want.get(name)!.data, 2e-4, 1e-6);
          if (miss) expect.fail(`${mode} ${name}: ${miss}`);
        }
        console.log(
          `[gpujs-exec.test] ${mode}: ${plan.kernels.length} kernels built in ${ex.stats.prepareMs.toFixed(0)} ms ` +
            `(${(ex.stats.kernels.reduce((s, k) => s + k.buildMs, 0) / plan.kernels.length).toFixed(1)} ms/kernel)`,
        );
      } finally {
        ex.dispose();
      }
    });

    it('loads at flat offsets above 2^24 exactly (index math is integer, not f32)', async (ctx) => {
      const be = await backendOr(mode, ctx);
      const S = 2 ** 24 + 4096;
      // out[i, j] = Σ_k x[2^24 + 1 + 257 i + 3 j + k]: odd offsets that f32 index math would round
      const plan = K.planOf(
        [{ name: 'x', shape: [S] }, { name: 'out', shape: [8, 16] }],
        [{ name: 'big', out: 'out', loops: [{ v: 'i', extent: 8 }, { v: 'j', extent: 16 }], body: K.sum([['k', 3]], K.load(0, [['i', 257], ['j', 3], ['k', 1]], 2 ** 24 + 1)) }],
        [['out', 'out']],
      );
      const x = new Float32Array(S);
      for (let i = 0; i < S; i++) x[i] = i % 1024;
      const ex = await be.prepare(plan);
      try {
        await ex.set('x', x);
        await ex.run();
        const want = runPlanReference(plan, K.asTensors(plan, new Map([['x', x]])));
        expect(Array.from(await ex.read('out'))).toEqual(Array.from(want.get('out')!.data));
      } finally {
        ex.dispose();
      }
    });

    it('a training-step plan (7 kernels) for 3 steps with assign(param:Bm -> Bm)', async (ctx) => {
      const be = await backendOr(mode, ctx);
      await fc.assert(
        fc.asyncProperty(dim(6), dim(12), dim(8), dim(3), fc.nat(1000), async (n, d, o, r, seed) => {
          const cs = K.loraStepPlan(n, d, o, r);
          const ex = await be.prepare(cs.plan);
          try {
            const feeds = K.feedsFor(cs, seed);
            for (const [name, v] of feeds) await ex.set(name, v);
            const refFeeds = K.asTensors(cs.plan, feeds);
            for (let step = 0; step < 3; step++) {
              await ex.run(cs.args);
              const want = runPlanReference(cs.plan, refFeeds, cs.args);
              for (const [name] of cs.plan.outputs) {
                const miss = K.closeTo(await ex.read(name), want.get(name)!.data, 2e-4);
                if (miss) expect.fail(`${mode} step ${step} ${name}: ${miss}`);
              }
              await ex.assign([['param:Bm', 'Bm']]);
              refFeeds.set('Bm', { shape: cs.plan.buffers[cs.plan.leaves.get('Bm')!].shape, data: want.get('param:Bm')!.data });
              expect(K.closeTo(await ex.read('Bm'), want.get('param:Bm')!.data, 2e-4)).toBeNull();
            }
          } finally {
            ex.dispose();
          }
        }),
        { seed: 106, numRuns: 3 },
      );
    });

    it('plans from the fusion pass (stdlib LoRA and DoRA, forward + backward) equal the reference', async (ctx) => {
      const be = await backendOr(mode, ctx);
      for (const [file, entry] of [['lora.lily', 'LoRA'], ['dora.lily', 'DoRA']]) {
        const checked = checkSource(readFileSync(new URL(`../../stdlib/adapters/${file}`, import.meta.url), 'utf8'), file);
        const p = compile(checked, entry, { settings: { N: 3, In: 10, Out: 6, r: 2 }, seed: 5 });
        const plan = planKernels(p.graph);
        const feeds = new Map([...p.leaves].filter(([k]) => plan.leaves.has(k)));
        for (const [k, v] of plan.constants) feeds.set(k, { shape: plan.buffers[plan.leaves.get(k)!].shape, data: v });
        const want = runPlanReference(plan, feeds);
        const ex = await be.prepare(plan); // sets plan.constants itself
        try {
          for (const [k, t] of p.leaves) if (plan.leaves.has(k)) await ex.set(k, Float32Array.from(t.data));
          await ex.run();
          for (const [name, t] of want) {
            const miss = K.closeTo(await ex.read(name), t.data, 2e-4);
            if (miss) expect.fail(`${mode} ${entry} ${name}: ${miss}`);
          }
        } finally {
          ex.dispose();
        }
      }
    });

    it('rejects wrong sizes, unknown names, missing args and reads before run', async (ctx) => {
      const be = await backendOr(mode, ctx);
      const cs = K.argKernel(4, 2);
      const ex = await be.prepare(cs.plan);
      try {
        await expect(ex.read('out')).rejects.toThrow(/not been computed/);
        await expect(ex.set('p', new Float32Array(3))).rejects.toThrow(/4 elements/);
        await expect(ex.set('nope', new Float32Array(4))).rejects.toThrow(/not a leaf/);
        await expect(ex.run({ lr: 1, eps: 1 })).rejects.toThrow(/'e' is missing/);
        // leaves start at zero: out = 0 - lr·0/(0 + eps) + 0^2
        await ex.run({ lr: 1, eps: 1, e: 2 });
        expect(Array.from(await ex.read('out'))).toEqual([0, 0, 0, 0]);
      } finally {
        ex.dispose();
      }
    });
  });
}

describe('gpujs-webgpu keeps a run on the device', () => {
  it('no readback and no leaf upload inside run(); temps freed at last use; one mapAsync per read(); no leaks across runs', async (ctx) => {
    const be = await backendOr('webgpu', ctx);
    const cs = K.loraStepPlan(16, 32, 12, 4);
    const g = globalThis as unknown as {
      GPUBuffer: { prototype: { mapAsync: (...a: unknown[]) => Promise<void>; destroy: () => void } };
      GPUQueue: { prototype: { writeBuffer: (...a: unknown[]) => void } };
      GPUDevice: { prototype: { createBuffer: (...a: unknown[]) => unknown } };
    };
    const buf = g.GPUBuffer.prototype;
    const queue = g.GPUQueue.prototype;
    const dev = g.GPUDevice.prototype;
    const orig = { mapAsync: buf.mapAsync, destroy: buf.destroy, writeBuffer: queue.writeBuffer, createBuffer: dev.createBuffer };
    const count = { maps: 0, bytes: 0, created: 0, destroyed: 0 };
    buf.mapAsync = function (this: unknown, ...a: unknown[]) {
      count.maps++;
      return orig.mapAsync.apply(this, a);
    };
    queue.writeBuffer = function (this: unknown, ...a: unknown[]) {
      const data = a[2] as ArrayBufferLike | ArrayBufferView;
      count.bytes += (a[4] as number | undefined) ?? (data as ArrayBufferView).byteLength ?? (data as ArrayBuffer).byteLength;
      return orig.writeBuffer.apply(this, a);
    };
    dev.createBuffer = function (this: unknown, ...a: unknown[]) {
      count.created++;
      return orig.createBuffer.apply(this, a);
    };
    buf.destroy = function (this: unknown) {
      count.destroyed++;
      return orig.destroy.apply(this);
    };
    try {
      const ex = await be.prepare(cs.plan);
      try {
        const feeds = K.feedsFor(cs, 5);
        for (const [name, v] of feeds) await ex.set(name, v);
        const leafBytes = [...feeds.values()].reduce((s, v) => s + v.byteLength, 0);
        const afterPrepare = count.created - count.destroyed;
        const live: number[] = [];
        const outputs = new Set(cs.plan.outputs.values());
        const deadTemps = cs.plan.kernels.filter((k) => !outputs.has(k.out)).length; // h, p, gy
        for (let step = 0; step < 4; step++) {
          const before = { ...count };
          await ex.run(cs.args);
          expect(count.maps - before.maps, 'mapAsync calls during run()').toBe(0);
          // temps that are not outputs go back to the device inside the run, at their last use:
          // after the first run fewer buffers are alive than after prepare (where every kernel
          // holds the output buffer gpu.js allocates at build)
          if (step === 0) expect(count.created - count.destroyed).toBeLessThanOrEqual(afterPrepare - deadTemps);
          // each kernel writes its small uniform block (sizes, scalar args); no leaf goes up again
          const written = count.bytes - before.bytes;
          expect(written).toBeLessThanOrEqual(cs.plan.kernels.length * 128);
          expect(written).toBeLessThan(leafBytes / 4);
          const m = count.maps;
          await ex.read('loss');
          expect(count.maps - m, 'mapAsync calls for one read()').toBe(1);
          await ex.assign([['param:Bm', 'Bm']]);
          live.push(count.created - count.destroyed);
        }
        // steady state: every run frees what the previous one allocated
        expect(live[3]).toBe(live[2]);
        expect(live[2]).toBe(live[1]);
      } finally {
        ex.dispose();
      }
    } finally {
      Object.assign(buf, { mapAsync: orig.mapAsync, destroy: orig.destroy });
      queue.writeBuffer = orig.writeBuffer;
      dev.createBuffer = orig.createBuffer;
    }
  });
});

describe('unavailable modes', () => {
  it('report a reason instead of crashing, and prepare() rejects with it', async () => {
    for (const mode of ['webgl2', 'headlessgl'] as const) {
      const be = gpuJsBackend(mode);
      const a = await be.available();
      if (a.ok) continue; // e.g. a CI machine with headless-gl and a display
      expect(a.reason.length).toBeGreaterThan(0);
      await expect(be.prepare(K.argKernel(4, 2).plan)).rejects.toThrow(a.reason);
    }
  });
});
