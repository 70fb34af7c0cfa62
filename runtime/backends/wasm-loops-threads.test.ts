// The loops kernels on two threads (wasm-loops-threads.ts): a split run equals the single-thread run
// bit for bit (every element computed by the same wasm function either way), kernels that read their
// own output elsewhere than where they write stay whole, the worker ends with dispose(), a failed or
// trapping worker leaves one thread doing everything, and a process with a live worker still exits.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bin, kernel, plan, rand } from '../../compiler/codegen/cpu-testkit.ts';
import type { Kernel, KExpr, KernelPlan } from '../../compiler/fuse/kernel-ir.ts';
import { type CpuExecutable, cpuBackend, loopsThreads } from './cpu-exec.ts';
import { rowSeparable } from './cpu-wasm-loops.ts';
import { loadNativeBlas } from './native-blas.ts';
import { LoopsThreads } from './wasm-loops-threads.ts';

const native = loadNativeBlas();
const noBlas = native.ok ? '' : `the loops worker runs on the OpenBLAS path only: ${native.reason}`;
const ld = (buf: number, terms: Record<string, number>, offset = 0): KExpr => ({ k: 'load', buf, at: { terms: Object.entries(terms).map(([v, c]) => ({ v, c })), offset } });

/** one plan per kernel form: leaves x (0), y (1), W (2); the kernel writes buffer 3 (or updates W in place) */
function plans(): { name: string; p: KernelPlan; split: boolean }[] {
  const R = 37, C = 389; // odd extents: scalar tails and uneven halves
  const leaves: [string, number[], ('input' | 'param')?][] = [['x', [R, C]], ['y', [C, R]], ['W', [R, C], 'param']];
  const one = (name: string, loops: Record<string, number>, body: KExpr, size: number[], split = true) => ({
    name,
    split,
    p: plan({ leaves, temps: [size], kernels: [kernel(name, 3, loops, body, [0, 1, 2])], outputs: [['out', 3]], args: ['s'] }),
  });
  const exp = (a: KExpr): KExpr => ({ k: 'unary', fn: 'exp', a });
  const sum = (v: string, extent: number, body: KExpr): KExpr => ({ k: 'reduce', op: 'sum', vars: [{ v, extent }], body });
  const update = kernel('sgd', 2, { n: R, c: C }, bin('-', ld(2, { n: C, c: 1 }), bin('*', { k: 'arg', name: 's' }, ld(0, { n: C, c: 1 }))), [0, 2]);
  const shifted = kernel('shift', 2, { n: R, c: C }, bin('+', ld(2, { n: C, c: 1 }, C), ld(0, { n: C, c: 1 })), [0, 2]);
  // a shifted read of its own output would race across the halves: the shift kernel has one row fewer
  shifted.loops[0]!.extent = R - 1;
  return [
    one('gelu', { n: R, c: C }, { k: 'unary', fn: 'gelu', a: bin('*', { k: 'arg', name: 's' }, ld(0, { n: C, c: 1 })) }, [R, C]),
    one('dgelu-transposed', { n: R, c: C }, bin('*', { k: 'unaryGrad', fn: 'gelu', a: ld(0, { n: C, c: 1 }) }, ld(1, { c: R, n: 1 })), [R, C]),
    one('softmax', { n: R, c: C }, bin('/', exp(ld(0, { n: C, c: 1 })), sum('k', C, exp(ld(0, { n: C, k: 1 })))), [R, C]),
    one('row-mean', { n: R }, sum('k', C, ld(0, { n: C, k: 1 })), [R]),
    one('column-sum', { c: C }, sum('n', R, ld(0, { n: C, c: 1 })), [C]),
    one('flat', { i: R * C }, { k: 'unary', fn: 'tanh', a: bin('+', ld(0, { i: 1 }), ld(2, { i: 1 })) }, [R * C]),
    { name: 'in-place update', split: true, p: plan({ leaves, temps: [], kernels: [update], outputs: [['W2', 2]], args: ['s'] }) },
    { name: 'shifted self-read', split: false, p: plan({ leaves, temps: [], kernels: [shifted], outputs: [['W2', 2]], args: ['s'] }) },
  ];
}

async function prepared(p: KernelPlan, threads: number): Promise<CpuExecutable> {
  const exe = (await cpuBackend({ threads, threadMinBytes: 0 }).prepare(p)) as CpuExecutable;
  await exe.threadsReady;
  let seed = 1;
  for (const [name, id] of p.leaves) await exe.set(name, rand(p.buffers[id]!.size, seed++));
  return exe;
}

/** the output after two runs (an in-place update reads what the first wrote), leaves reset first */
async function twoRuns(exe: CpuExecutable, p: KernelPlan): Promise<Float32Array> {
  let seed = 1;
  for (const [name, id] of p.leaves) await exe.set(name, rand(p.buffers[id]!.size, seed++));
  await exe.run({ s: 0.75 });
  await exe.run({ s: 0.75 });
  return exe.read([...p.outputs.keys()][0]!);
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('wasm loops kernels on two threads', () => {
  it.skipIf(!!noBlas)(`split runs equal single-thread runs bit for bit, for every kernel form ${noBlas}`, async () => {
    for (const { name, p, split } of plans()) {
      expect(rowSeparable(p.kernels[0]!), name).toBe(split);
      const one = await prepared(p, 1);
      const two = await prepared(p, 2);
      expect(one.loopsThreads, name).toBe(1);
      expect(two.loopsThreads, name).toBe(2);
      expect(two.wasmKernels, name).toBe(1);
      const want = await twoRuns(one, p);
      // whether the worker takes chunks of a run depends on timing (on a busy machine it may wake after
      // the caller has claimed them all): run until it has, for at most 10 s
      const until = performance.now() + 10_000;
      for (let r = 0; r < 3 || (two.loopsWorkerChunks === 0 && performance.now() < until); r++) expect(same(await twoRuns(two, p), want), `${name} run ${r}`).toBe(true);
      if (split) expect(two.loopsWorkerChunks, name).toBeGreaterThan(0);
      else expect(two.loopsSplits, name).toBe(0);
      one.dispose();
      two.dispose();
      await two.loopsWorkerExited;
    }
  });

  it.skipIf(!!noBlas)(`GEMM kernels' pack and epilogue passes split too, equal bit for bit ${noBlas}`, async () => {
    const M = 45, K = 33, N = 70;
    const p = plan({
      leaves: [['x', [M, K]], ['W', [N, K], 'param'], ['b', [N], 'param']],
      temps: [[M, N]],
      kernels: [kernel('lin', 3, { i: M, j: N }, { k: 'unary', fn: 'gelu', a: bin('+', { k: 'reduce', op: 'sum', vars: [{ v: 'k', extent: K }], body: bin('*', ld(0, { i: K, k: 1 }), ld(1, { j: K, k: 1 })) }, ld(2, { j: 1 })) }, [0, 1, 2])],
      outputs: [['y', 3]],
    });
    const outs: Float32Array[] = [];
    for (const threads of [1, 2]) {
      const exe = (await cpuBackend({ strategy: 'gemm', threads, threadMinBytes: 0 }).prepare(p)) as CpuExecutable;
      await exe.threadsReady;
      expect(exe.wasmPasses).toBeGreaterThan(0);
      let seed = 5;
      for (const [name, id] of p.leaves) await exe.set(name, rand(p.buffers[id]!.size, seed++));
      await exe.run();
      outs.push(await exe.read('y'));
      const until = performance.now() + 10_000; // the worker may wake late on a busy machine
      for (let r = 0; threads === 2 && exe.loopsWorkerChunks === 0 && performance.now() < until; r++) {
        await exe.run();
        expect(same(await exe.read('y'), outs[0]!)).toBe(true);
      }
      expect(exe.loopsSplits > 0).toBe(threads === 2);
      expect(exe.loopsWorkerChunks > 0).toBe(threads === 2);
      exe.dispose();
    }
    expect(same(outs[1]!, outs[0]!)).toBe(true);
  });

  it.skipIf(!!noBlas)(`prepare does not wait for the worker; a caller that never yields gets it once it is up ${noBlas}`, async () => {
    const { p } = plans()[0]!;
    const exe = (await cpuBackend({ threads: 2, threadMinBytes: 0 }).prepare(p)) as CpuExecutable;
    let seed = 1;
    for (const [name, id] of p.leaves) exe.host!.leaf(name).set(rand(p.buffers[id]!.size, seed++));
    // from here on synchronous: the worker's own word in the control area says when it is up
    const t0 = performance.now();
    while (exe.loopsThreads === 1 && performance.now() - t0 < 20000) exe.runSync({ s: 1 });
    expect(exe.loopsThreads).toBe(2);
    const splits = exe.loopsSplits;
    exe.runSync({ s: 1 });
    expect(exe.loopsSplits).toBe(splits + 1);
    exe.dispose();
    await exe.loopsWorkerExited;
  });

  it.skipIf(!!noBlas)(`small kernels stay on one thread; dispose() ends the worker ${noBlas}`, async () => {
    const { p } = plans()[0]!;
    const exe = (await cpuBackend({ threads: 2 }).prepare(p)) as CpuExecutable; // default threshold: 57 KB moved is below it
    await exe.threadsReady;
    await exe.run({ s: 1 });
    expect(exe.loopsThreads).toBe(2);
    expect(exe.loopsSplits).toBe(0);
    let ended = false;
    const exited = exe.loopsWorkerExited.then(() => (ended = true));
    expect(ended).toBe(false);
    exe.dispose();
    await exited;
    expect(exe.loopsThreads).toBe(1);
  });

  it('LILY_THREADS=1 (when no option is given) keeps one thread; the option wins', () => {
    const old = process.env.LILY_THREADS;
    try {
      process.env.LILY_THREADS = '1';
      expect(loopsThreads()).toBe(1);
      expect(loopsThreads(2)).toBe(2);
      process.env.LILY_THREADS = '2';
      expect(loopsThreads()).toBe(2);
      expect(loopsThreads(1)).toBe(1);
    } finally {
      if (old === undefined) delete process.env.LILY_THREADS;
      else process.env.LILY_THREADS = old;
    }
  });

  /** a one-function module: rows [lo, hi) of out[i] = i (f32) at tab, on the given memory */
  const tinyModule = (mem: WebAssembly.Memory): { module: WebAssembly.Module; fn: (lo: number, hi: number, tab: number, argp: number) => void } => {
    // (func (param lo hi tab argp) (loop: f32.store tab+4·lo (f32.convert_i32_s lo); lo++; br_if lo<hi))
    const shared = mem.buffer instanceof SharedArrayBuffer;
    const bytes = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x08, 0x01, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x00, // type (i32 ×4) → ()
      0x02, 0x0d, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x6d, 0x65, 0x6d, 0x02, shared ? 0x03 : 0x01, 0x01, 0x01, // import env.mem (1 page, max 1)
      0x03, 0x02, 0x01, 0x00,
      0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f"
      0x0a, 0x21, 0x01, 0x1f, 0x00,
      0x03, 0x40, // loop
      0x20, 0x02, 0x20, 0x00, 0x41, 0x02, 0x74, 0x6a, // tab + (lo << 2)
      0x20, 0x00, 0xb2, 0x38, 0x02, 0x00, // f32.store (f32.convert_i32_s lo)
      0x20, 0x00, 0x41, 0x01, 0x6a, 0x22, 0x00, // lo = lo + 1 (tee)
      0x20, 0x01, 0x48, 0x0d, 0x00, // br_if lo < hi
      0x0b, 0x0b,
    ]);
    const module = new WebAssembly.Module(bytes);
    const fn = new WebAssembly.Instance(module, { env: { mem } }).exports.f as (lo: number, hi: number, tab: number, argp: number) => void;
    return { module, fn };
  };

  it('splits a job into chunks of 4k rows claimed by both threads; a worker that cannot start or traps leaves one thread, right results', async () => {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const { module, fn } = tinyModule(mem);
    const f = new Float32Array(mem.buffer);
    const expectRows = (n: number) => expect(Array.from(f.subarray(256, 256 + n))).toEqual(Array.from({ length: n }, (_, i) => i));
    // the caller's chunks made slow (2 ms each): the worker surely takes some
    let mine = 0;
    const slow = (lo: number, hi: number, tab: number, argp: number) => {
      mine++;
      const t0 = performance.now();
      while (performance.now() - t0 < 2);
      fn(lo, hi, tab, argp);
    };
    const t = new LoopsThreads(module, mem, ['f'], 0);
    expect(await t.ready).toBe(true);
    t.run(0, slow, 103, 1024, 0); // 16 chunks of 8 rows, the last 7
    expectRows(103);
    expect(t.splits).toBe(1);
    expect(t.workerChunks).toBeGreaterThan(0);
    expect(t.workerChunks + mine).toBe(13);
    t.run(0, fn, 7, 1024, 0); // too few rows: whole here
    expect(t.splits).toBe(1);
    t.close();
    await t.exited;
    f.fill(0);
    t.run(0, fn, 50, 1024, 0); // closed: whole on this thread
    expectRows(50);
    expect(t.splits).toBe(1);

    // an export name the worker does not have: its job traps there, this thread re-runs the half
    f.fill(0);
    const trap = new LoopsThreads(module, mem, ['missing'], 0);
    expect(await trap.ready).toBe(true);
    trap.run(0, slow, 77, 1024, 0);
    expectRows(77);
    expect(trap.threads).toBe(1);
    trap.close();
    await trap.exited;

    // a memory that is not shared cannot go to a worker: it never starts, every job runs here
    const plain = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    const tiny = tinyModule(plain);
    const none = new LoopsThreads(tiny.module, plain, ['f'], 0);
    expect(await none.ready).toBe(false);
    none.run(0, tiny.fn, 41, 1024, 0);
    expect(Array.from(new Float32Array(plain.buffer, 1024, 41))).toEqual(Array.from({ length: 41 }, (_, i) => i));
    expect(none.splits).toBe(0);
    none.close();

    // a worker that fails after starting (the module wants an unshared memory: instantiation throws there)
    const failing = new LoopsThreads(tiny.module, mem, ['f'], 0);
    expect(await failing.ready).toBe(false);
    f.fill(0);
    failing.run(0, fn, 29, 1024, 0);
    expectRows(29);
    expect(failing.splits).toBe(0);
    await failing.exited;
  });

  it.skipIf(!!noBlas)(`a process whose executable still has its loops worker exits ${noBlas}`, () => {
    const script = `
      import { cpuBackend } from './runtime/backends/cpu-exec.ts';
      import { plan, kernel } from './compiler/codegen/cpu-testkit.ts';
      const p = plan({ leaves: [['x', [64, 1024]]], temps: [[64, 1024]], outputs: [['y', 1]],
        kernels: [kernel('g', 1, { n: 64, c: 1024 }, { k: 'unary', fn: 'gelu', a: { k: 'load', buf: 0, at: { terms: [{ v: 'n', c: 1024 }, { v: 'c', c: 1 }], offset: 0 } } }, [0])] });
      const exe = await cpuBackend({ threads: 2, threadMinBytes: 0 }).prepare(p);
      await exe.threadsReady;
      await exe.run();
      console.log('threads', exe.loopsThreads, 'splits', exe.loopsSplits);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../..', import.meta.url).pathname, timeout: 20000, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('threads 2 splits 1');
    expect(r.status).toBe(0);
  });
});
