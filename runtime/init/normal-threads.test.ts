import { describe, expect, it } from 'vitest';
import { drawWorkerStats } from './draw-threads.ts';
import { drawnTensor, setFloat64Normals } from './drawn.ts';
import { drawNormalsShared, installSharedNormals, SHARED_NORMALS_MIN } from './normal-threads.ts';
import { rng, type Rng } from './rng.ts';

const sameBits = (a: Float64Array, b: Float64Array) => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** what one thread draws: r.normalInto into a new array */
function oneThread(r: Rng, n: number, mean: number, std: number): Float64Array {
  const out = new Float64Array(n);
  r.normalInto(out, mean, std);
  return out;
}

/** a stream, fresh or with a sine pending (one normal drawn) */
const stream = (label: string, pending: boolean): Rng => {
  const r = rng(5).fork(label);
  if (pending) r.normal();
  return r;
};

describe('a big float64 normal draw on two threads', () => {
  // even and odd lengths, from a fresh stream and from one with a pending sine
  const cases = [
    [SHARED_NORMALS_MIN, false],
    [3 * SHARED_NORMALS_MIN + 1, false],
    [SHARED_NORMALS_MIN + 6, true],
    [2 * SHARED_NORMALS_MIN + 3, true],
  ] as const;

  it('gives the numbers of one thread, bit for bit, and leaves the stream where one thread leaves it', async () => {
    expect(await drawWorkerStats().ready, 'a worker thread starts here').toBe(true);
    for (const [n, pending] of cases) {
      const [a, b] = [stream(`t${n}`, pending), stream(`t${n}`, pending)];
      const got = drawNormalsShared(0.5, 0.03, n, a);
      expect(got, `[${n}] drawn on two threads`).toBeDefined();
      expect(sameBits(got!, oneThread(b, n, 0.5, 0.03)), `[${n}], a sine pending: ${pending}`).toBe(true);
      expect(a.normal(), 'the next number').toBe(b.normal());
    }
  });

  it('the worker alone transforms every part as this thread would', async () => {
    expect(await drawWorkerStats().ready).toBe(true);
    for (const [n, pending] of cases) {
      const before = drawWorkerStats().drewPairs;
      const got = drawNormalsShared(-1, 2, n, stream(`w${n}`, pending), { shareDraws: false });
      expect(drawWorkerStats().drewPairs - before, `[${n}]: every part on the worker`).toBe(Math.ceil(((n - (pending ? 1 : 0)) >> 1) / 8192));
      expect(sameBits(got!, oneThread(stream(`w${n}`, pending), n, -1, 2)), `[${n}]`).toBe(true);
    }
  });

  it('declines (draws nothing) below its size; a drawn tensor then draws on this thread, the same numbers', async () => {
    expect(await drawWorkerStats().ready).toBe(true);
    const r = stream('small', false);
    expect(drawNormalsShared(0, 1, SHARED_NORMALS_MIN - 1, r)).toBeUndefined();
    expect(r.normal(), 'the stream untouched').toBe(stream('small', false).normal());
  });

  it("a drawn tensor's float64 values: on two threads where installed (shared memory), on this one where not, the same numbers", async () => {
    expect(await drawWorkerStats().ready).toBe(true);
    const n = 2 * SHARED_NORMALS_MIN + 1;
    const make = () => drawnTensor([n], { draw: { kind: 'normal', mean: 0, std: 0.1 }, stream: () => rng(8).fork('W') });
    try {
      setFloat64Normals(undefined);
      const here = make().data;
      installSharedNormals(() => true);
      const before = drawWorkerStats().drewPairs;
      let shared: Float64Array | undefined;
      for (let k = 0; k < 20 && drawWorkerStats().drewPairs === before; k++) shared = make().data; // this thread may claim every part
      expect(shared!.buffer instanceof SharedArrayBuffer, 'drawn by drawNormalsShared').toBe(true);
      expect(here.buffer instanceof SharedArrayBuffer).toBe(false);
      expect(drawWorkerStats().drewPairs, 'the worker took parts').toBeGreaterThan(before);
      expect(sameBits(shared!, here)).toBe(true);
    } finally {
      installSharedNormals(() => true);
    }
  });

  // last: afterwards this process never asks the worker again
  it('a worker that never answers: its parts are done here after the wait, the same numbers; the worker is not asked again', () => {
    const n = SHARED_NORMALS_MIN + 1;
    let offered = 0;
    const silent = { offer: () => (offered++, new Promise<void>(() => {})) };
    const t0 = performance.now();
    const got = drawNormalsShared(0, 1, n, stream('silent', false), { shareDraws: false, worker: silent, waitMs: 50 });
    expect(performance.now() - t0, 'waited, then went on').toBeGreaterThanOrEqual(45);
    expect(offered).toBe(1);
    expect(sameBits(got!, oneThread(stream('silent', false), n, 0, 1))).toBe(true);
    expect(drawNormalsShared(0, 1, n, stream('silent', false), { worker: silent }), 'declined from now on').toBeUndefined();
    expect(offered).toBe(1);
  });
});
