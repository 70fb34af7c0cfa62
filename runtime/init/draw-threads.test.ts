import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { drawWorkerStats, loadFloat32, THREAD_MIN_VALUES } from './draw-threads.ts';
import { normalSequence, writeFloat32, zerosWhenNeeded } from './drawn.ts';
import { initializeLazily } from './initializers.ts';
import { rng } from './rng.ts';
import { tensor, type Tensor } from '../tensor/tensor.ts';

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** tensors of every kind (big uniform draws, normal draws, constants, values that exist) and float32 arrays for them in one shared buffer */
function batch(bigUniforms: number) {
  const tensors: Tensor[] = [];
  for (let k = 0; k < bigUniforms; k++) tensors.push(initializeLazily('kaiming_uniform', [256 + k, 256], {}, () => rng(9).fork(`w${k}`)));
  tensors.push(initializeLazily('uniform', [10], { low: -2, high: 2 }, () => rng(9).fork('small')));
  const inputs = normalSequence(rng(9).fork('inputs'));
  tensors.push(inputs.next([THREAD_MIN_VALUES + 3]), inputs.next([THREAD_MIN_VALUES + 1, 2])); // the second starts mid-pair
  tensors.push(initializeLazily('normal', [THREAD_MIN_VALUES + 5], { mean: 1, std: 3 }, () => rng(9).fork('n')));
  tensors.push(zerosWhenNeeded([7, 5]), initializeLazily('ones', [3], {}, () => rng(0)), tensor([2], [0.1, -7]));
  const sizes = tensors.map((t) => t.shape.reduce((a, b) => a * b, 1));
  const shared = new SharedArrayBuffer(4 * sizes.reduce((a, b) => a + b, 0));
  let at = 0;
  const outs = sizes.map((n) => {
    const out = new Float32Array(shared, 4 * at, n).fill(NaN);
    at += n;
    return out;
  });
  return { tensors, outs };
}

/** every tensor holds what writeFloat32 on this thread writes, bit for bit */
function expectAsOneThread(tensors: Tensor[], outs: Float32Array[]): void {
  for (const [i, t] of tensors.entries()) {
    const want = new Float32Array(outs[i]!.length);
    writeFloat32(t, want);
    expect(same(outs[i]!, want), `tensor ${i} [${t.shape}]`).toBe(true);
  }
}

describe('initial values loaded on two threads', () => {
  it('writes the same numbers as writeFloat32 on one thread, the worker drawing some of the big uniform and normal tensors', async () => {
    const stats = drawWorkerStats();
    expect(await stats.ready, 'a worker thread starts here').toBe(true);
    const { tensors, outs } = batch(48);
    await loadFloat32(tensors.map((t, i) => [t, outs[i]!]), 2);
    expect(drawWorkerStats().drew, 'the worker drew some tensors').toBeGreaterThan(stats.drew);
    expectAsOneThread(tensors, outs);
  });

  it('the worker alone draws every big tensor (uniform, normal, a normal starting mid-pair) as this thread would', async () => {
    expect(await drawWorkerStats().ready).toBe(true);
    const { tensors, outs } = batch(2);
    const before = drawWorkerStats().drew;
    await loadFloat32(tensors.map((t, i) => [t, outs[i]!]), 2, false);
    expect(drawWorkerStats().drew - before).toBe(5); // 2 uniform, 3 normal
    expectAsOneThread(tensors, outs);
  });

  it('the worker alone draws big uniform tensors four at a time (one stream in each SIMD lane), the rest one by one, as this thread would', async () => {
    expect(await drawWorkerStats().ready).toBe(true);
    const { tensors, outs } = batch(9);
    const before = drawWorkerStats();
    await loadFloat32(tensors.map((t, i) => [t, outs[i]!]), 2, false);
    expect(drawWorkerStats().drew - before.drew).toBe(12); // 9 uniform, 3 normal
    expect(drawWorkerStats().drewQuads - before.drewQuads, 'two jobs of four uniform draws').toBe(2);
    expectAsOneThread(tensors, outs);
  });

  it('one thread, or arrays that are not shared memory: everything drawn here, the same numbers', async () => {
    const { tensors, outs } = batch(3);
    const before = drawWorkerStats().drew;
    await loadFloat32(tensors.map((t, i) => [t, outs[i]!]), 1);
    const plain = tensors.map((t) => new Float32Array(t.shape.reduce((a, b) => a * b, 1)));
    await loadFloat32(tensors.map((t, i) => [t, plain[i]!]), 2);
    expect(drawWorkerStats().drew).toBe(before);
    for (const i of tensors.keys()) expect(same(outs[i]!, plain[i]!), `tensor ${i}`).toBe(true);
  });
});

describe('the draw worker', () => {
  it('is known to be ready without this thread running its event loop (back-to-back compiles never yield to it)', () => {
    // the child starts the worker and spins: its 'ready' message can never be delivered meanwhile
    const src =
      "import { readyDrawWorker, startDrawWorker } from './runtime/init/draw-threads.ts'; startDrawWorker(2, 2); const t = Date.now(); while (!readyDrawWorker() && Date.now() - t < 5000); console.log(readyDrawWorker() ? 'ready' : 'not ready'); process.exit(0);";
    const root = new URL('../../', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { cwd: root, timeout: 20_000, encoding: 'utf8' });
    expect(r.stdout.trim(), r.stderr).toBe('ready');
  }, 30_000);

  it('started and never offered a job, it does not keep the process alive (a PiSSA compile left `lily compile` hanging)', () => {
    // the child waits 300 ms so that the worker is up, then has nothing left to do: it must exit
    const src = "import { startDrawWorker } from './runtime/init/draw-threads.ts'; startDrawWorker(2, 2); setTimeout(() => {}, 300);";
    const root = new URL('../../', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { cwd: root, timeout: 20_000, encoding: 'utf8' });
    expect(r.signal, 'still running after 20 s: killed').toBeNull();
    expect(r.status, r.stderr).toBe(0);
  }, 30_000);
});
