import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { applyLeft, applyRight, betweenLoop, bidiagonalize, CHUNKS, firstProductLoop, type RowPassHelper, type RowPassSession, type RowPassVectors, setRowPassHelper } from './bidiagonal.ts';
import { rowPassThreads } from './bidiagonal-threads.ts';
import { bidiagonalKernel, type BidiagonalKernel } from './bidiagonal-wasm.ts';

const matrix = fc
  .tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 1e6 }))
  .map(([a, b, seed]) => {
    const [m, n] = [Math.max(a, b), Math.min(a, b)];
    let s = seed;
    return { m, n, data: Float64Array.from({ length: m * n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1) };
  });

describe('bidiagonalize', () => {
  it('the WebAssembly kernel is there in Node (else the fast path would silently be the loop)', () => {
    expect(bidiagonalKernel(1024)).not.toBeNull();
  });

  it('the WebAssembly reflector kernel gives the JavaScript loop\'s columns bit for bit, blocks wider than its room in slices (property)', () => {
    fc.assert(
      fc.property(matrix, fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 30, max: 70 })), fc.integer({ min: 0, max: 1e6 }), ({ m, n, data }, c, seed) => {
        const fast = bidiagonalize(data, m, n);
        expect(fast.kernel).not.toBeNull();
        const loop = { ...fast, kernel: null }; // the same reflectors, applied by reflectLoop
        let s = seed;
        const block = (rows: number) => Float64Array.from({ length: rows * c }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5);
        for (const [apply, rows] of [[applyLeft, m], [applyRight, n]] as const) {
          const X = block(rows);
          if (rows > 2) X.fill(0, c, 2 * c); // a zero row: the kernels skip nothing they should not
          const Y = X.slice();
          apply(fast, X, c);
          apply(loop, Y, c);
          expect([...X].map((x) => Object.is(x, -0) ? '-0' : x)).toEqual([...Y].map((x) => Object.is(x, -0) ? '-0' : x));
        }
      }),
      { seed: 8, numRuns: 80 },
    );
  });

  it('W = Q_L B Q_Rᵀ, and the WebAssembly row pass agrees with the JavaScript loop (property)', () => {
    fc.assert(
      fc.property(matrix, ({ m, n, data }) => {
        const fast = bidiagonalize(data, m, n);
        const loop = bidiagonalize(data, m, n, { wasm: false });
        fast.d.forEach((x, i) => expect(Math.abs(x - loop.d[i])).toBeLessThan(1e-12));
        fast.e.forEach((x, i) => expect(Math.abs(x - loop.e[i])).toBeLessThan(1e-12));
        // rebuild W column by column: W e_j = Q_L B Q_Rᵀ e_j
        for (let j = 0; j < n; j++) {
          const y = new Float64Array(n);
          y[j] = 1;
          // Q_Rᵀ e_j: row j of Q_R, from Q_R applied to every unit vector
          const QR = new Float64Array(n * n);
          for (let t = 0; t < n; t++) QR[t * n + t] = 1;
          applyRight(fast, QR, n);
          for (let t = 0; t < n; t++) y[t] = QR[j * n + t];
          const By = new Float64Array(m);
          for (let t = 0; t < n; t++) By[t] = fast.d[t] * y[t] + (t < n - 1 ? fast.e[t] * y[t + 1] : 0);
          applyLeft(fast, By, 1);
          for (let i = 0; i < m; i++) expect(Math.abs(By[i] - data[i * n + j])).toBeLessThan(1e-12);
        }
      }),
      { seed: 5, numRuns: 60 },
    );
  });
});

/** the matrix, d, e and every reflector as text, -0 told apart from 0 */
const bits = (b: { d: Float64Array; e: Float64Array; a: Float64Array; tauL: Float64Array; tauR: Float64Array }) =>
  [b.d, b.e, b.a, b.tauL, b.tauR].map((x) => [...x].map((v) => (Object.is(v, -0) ? '-0' : v)));

const sized = (maxSize: number) =>
  fc.tuple(fc.integer({ min: 1, max: maxSize }), fc.integer({ min: 1, max: maxSize }), fc.integer({ min: 0, max: 1e6 })).map(([x, y, seed]) => {
    const [m, n] = [Math.max(x, y), Math.min(x, y)];
    let s = seed;
    return { m, n, data: Float64Array.from({ length: m * n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1) };
  });

describe('bidiagonalize: the work between passes', () => {
  it('the WebAssembly kernel\'s `between` gives betweenLoop\'s bits: the chunks\' vectors summed, w, row k, u, e[k], τR and the zeroed vectors (property)', () => {
    fc.assert(
      fc.property(sized(40), fc.nat(), fc.nat(CHUNKS - 1), fc.nat(CHUNKS - 1), fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: -2, max: 2, noNaN: true }), fc.nat(3), ({ m, n, data }, k0, reduce, zero, tau, scale, zeros) => {
        if (n < 2) return;
        const k = k0 % (n - 1);
        // the state between two passes in the kernel's layout: the matrix, w, u, wn, the chunks' vectors (random), out
        const at = { w: m * n, u: m * n + n, wn: m * n + 2 * n, parts: m * n + 3 * n, out: m * n + (3 + CHUNKS - 1) * n };
        const size = at.out + 1;
        const kernel = bidiagonalKernel(8 * size)!;
        const mem = new Float64Array(kernel.memory.buffer, 0, size);
        mem.set(data);
        for (let i = m * n; i < size; i++) mem[i] = data[(7 * i) % data.length] * 3;
        // rows whose tail is zero (τR = 0), or with a single nonzero entry
        if (zeros >= 2) mem.fill(0, k * n + k + 2, k * n + n);
        if (zeros === 3 && k + 2 < n) mem[k * n + n - 1] = -0.5;
        const loop = mem.slice();
        const tauR = kernel.between(0, 8 * at.w, 8 * at.u, 8 * at.wn, 8 * at.parts, 8 * at.out, n, k, reduce, zero, tau, scale);
        const view = (x: Float64Array, lo: number, len: number) => x.subarray(lo, lo + len);
        const tauRLoop = betweenLoop(view(loop, 0, m * n), view(loop, at.w, n), view(loop, at.u, n), view(loop, at.wn, n), view(loop, at.parts, (CHUNKS - 1) * n), view(loop, at.out, 1), n, k, reduce, zero, tau, scale);
        expect(Object.is(tauR, tauRLoop)).toBe(true);
        expect([...mem].map(String)).toEqual([...loop].map(String));
      }),
      { seed: 21, numRuns: 300 },
    );
  });
});

describe('bidiagonalize: step 0\'s product', () => {
  it('the WebAssembly kernel\'s firstProduct gives firstProductLoop\'s bits, rows whose first entry is 0 (or −0) skipped (property)', () => {
    fc.assert(
      fc.property(sized(40), fc.nat(), ({ m, n, data }, zeroRows) => {
        const a = data.slice();
        for (let i = 0; i < m; i++) if ((zeroRows >> i % 20) & 1) a[i * n] = i % 2 ? 0 : -0;
        const kernel = bidiagonalKernel(8 * (m * n + n))!;
        const mem = new Float64Array(kernel.memory.buffer, 0, m * n + n);
        mem.set(a);
        const loopWn = new Float64Array(n);
        const below2 = kernel.firstProduct(0, 8 * m * n, n, m);
        expect(Object.is(below2, firstProductLoop(a, loopWn, n, m))).toBe(true);
        expect([...mem.subarray(m * n)].map(String)).toEqual([...loopWn].map(String));
      }),
      { seed: 22, numRuns: 200 },
    );
  });
});

/** A helper that runs the chunks on this thread (no worker), from the back, each step its own number of them, before the caller or after it. */
function inThreadHelper(before: boolean): RowPassHelper & { jobs: number } {
  const helper = {
    jobs: 0,
    attach: (kernel: BidiagonalKernel, at: RowPassVectors): RowPassSession => {
      let front = 0, back = CHUNKS;
      const results = new Float64Array(CHUNKS);
      let job = { k: 0, tau: 0, tauR: 0, scale: 0, bounds: new Int32Array(0) };
      /** the helper takes `count` chunks from the back */
      const take = (count: number) => {
        for (let t = 0; t < count && back > front; t++) {
          const c = --back;
          results[c] = kernel.pass(at.a, at.w, at.u, at.wn[c], at.n, job.k, job.bounds[c], job.bounds[c + 1], job.tau, job.tauR, job.scale);
        }
      };
      return {
        offer(k, tau, tauR, scale, bounds) {
          helper.jobs++;
          job = { k, tau, tauR, scale, bounds: bounds.slice() };
          [front, back] = [0, CHUNKS];
          if (before) take(helper.jobs % (CHUNKS + 1));
          return helper.jobs;
        },
        next() {
          if (!before && front === 1) take(helper.jobs % CHUNKS);
          return front < back ? front++ : -1;
        },
        finish(_job, below) {
          for (let c = back; c < CHUNKS; c++) below[c] = results[c];
        },
        close: () => {},
      };
    },
  };
  return helper;
}

describe('bidiagonalize: the pass in chunks, on two threads', () => {
  afterEach(() => setRowPassHelper(null));

  it('a helper that runs some of the chunks (from none to all, before or while this thread runs its own) gives the bits of this thread alone, and is offered every big step (property)', () => {
    fc.assert(
      fc.property(sized(40), fc.boolean(), fc.constantFrom(0, 64, 400), ({ m, n, data }, early, splitMin) => {
        const alone = bidiagonalize(data, m, n, { splitMin, threads: false });
        const helper = inThreadHelper(early);
        setRowPassHelper(helper);
        const helped = bidiagonalize(data, m, n, { splitMin });
        setRowPassHelper(null);
        let big = 0;
        for (let k = 0; k < n - 1; k++) if ((m - k - 1) * (n - k - 1) >= splitMin) big++;
        expect(helper.jobs).toBe(m * n >= splitMin ? big : 0);
        expect(bits(helped)).toEqual(bits(alone));
      }),
      { seed: 11, numRuns: 60 },
    );
  });

  it('the chunks change only rounding: d, e and the rebuilt W within 1e-13 (relative) of the whole pass, and the JavaScript loop cuts them the same way (property)', () => {
    fc.assert(
      fc.property(sized(40), ({ m, n, data }) => {
        const whole = bidiagonalize(data, m, n, { splitMin: Infinity });
        const chunks = bidiagonalize(data, m, n, { splitMin: 0 });
        const loop = bidiagonalize(data, m, n, { splitMin: 0, wasm: false });
        const norm = Math.sqrt(data.reduce((acc, x) => acc + x * x, 0));
        for (const [x, y] of [[chunks, whole], [loop, chunks]]) {
          x.d.forEach((v, i) => expect(Math.abs(Math.abs(v) - Math.abs(y.d[i]))).toBeLessThan(1e-13 * norm));
          x.e.forEach((v, i) => expect(Math.abs(Math.abs(v) - Math.abs(y.e[i]))).toBeLessThan(1e-13 * norm));
        }
        // W = Q_L B Q_Rᵀ from the chunked pass's reflectors
        const QR = new Float64Array(n * n);
        for (let t = 0; t < n; t++) QR[t * n + t] = 1;
        applyRight(chunks, QR, n);
        for (let j = 0; j < n; j++) {
          const By = new Float64Array(m);
          for (let t = 0; t < n; t++) By[t] = chunks.d[t] * QR[j * n + t] + (t < n - 1 ? chunks.e[t] * QR[j * n + t + 1] : 0);
          applyLeft(chunks, By, 1);
          for (let i = 0; i < m; i++) expect(Math.abs(By[i] - data[i * n + j])).toBeLessThan(1e-13 * norm);
        }
      }),
      { seed: 12, numRuns: 40 },
    );
  });

  /** a 160×120 matrix, whose every step from 0 to 104 is cut at splitMin 256 */
  const [m, n] = [160, 120];
  let seed = 3;
  const data = Float64Array.from({ length: m * n }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1);
  const splitMin = 256;
  const oneThread = () => bits(bidiagonalize(data, m, n, { splitMin, threads: false }));

  /** bidiagonalise with the helper until its worker has taken chunks (it boots in tens of ms, and may wake late on a busy machine), for up to 10 s */
  async function untilWorkerTakes(helper: { readonly workerChunks: number }, check: () => void): Promise<void> {
    const before = helper.workerChunks;
    const t0 = Date.now();
    do {
      check();
      await new Promise((r) => setTimeout(r, 5));
    } while (helper.workerChunks === before && Date.now() - t0 < 10_000);
    expect(helper.workerChunks).toBeGreaterThan(before);
  }

  it('with the worker thread: the same bits as one thread, and the worker takes chunks', async () => {
    const one = oneThread();
    const helper = rowPassThreads({});
    setRowPassHelper(helper);
    await untilWorkerTakes(helper, () => expect(bits(bidiagonalize(data, m, n, { splitMin }))).toEqual(one));
    expect(bits(bidiagonalize(data, m, n, { splitMin }))).toEqual(one);
    expect(helper.workersLost).toBe(0);
  }, 20_000);

  it('a worker that dies halfway through a chunk: the bidiagonalisation starts again on this thread, with the same bits', async () => {
    const one = oneThread();
    const helper = rowPassThreads({ dieAtChunk: 3, lostMs: 100 });
    setRowPassHelper(helper);
    // every run gives one thread's bits, the one the worker died in too (it was started again here)
    const t0 = Date.now();
    do {
      expect(bits(bidiagonalize(data, m, n, { splitMin }))).toEqual(one);
      await new Promise((r) => setTimeout(r, 5));
    } while (helper.workersLost === 0 && Date.now() - t0 < 10_000);
    expect(helper.workerChunks).toBeGreaterThanOrEqual(3);
    expect(helper.workersLost).toBe(1);
    // a new worker takes over
    await untilWorkerTakes(helper, () => expect(bits(bidiagonalize(data, m, n, { splitMin }))).toEqual(one));
  }, 30_000);

  it('a helper that cannot attach (no shared memory, no worker thread) leaves every chunk here: the same bits', () => {
    const one = oneThread();
    let asked = 0;
    setRowPassHelper({ attach: () => (asked++, null) });
    expect(bits(bidiagonalize(data, m, n, { splitMin }))).toEqual(one);
    expect(asked).toBe(1);
  });

  it('a process that bidiagonalised on two threads exits by itself (the worker never keeps it alive)', () => {
    const src =
      "import { installRowPassThreads } from './runtime/tensor/bidiagonal-threads.ts'; import { bidiagonalize } from './runtime/tensor/bidiagonal.ts';" +
      'const t = installRowPassThreads(); const data = Float64Array.from({ length: 300 * 200 }, (_, i) => Math.sin(i));' +
      'setTimeout(() => { for (let r = 0; r < 20; r++) bidiagonalize(data, 300, 200); console.log(t.workerChunks()); }, 300);';
    const root = new URL('../../', import.meta.url).pathname;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { cwd: root, timeout: 20_000, encoding: 'utf8' });
    expect(r.signal, 'still running after 20 s: killed').toBeNull();
    expect(r.status, r.stderr).toBe(0);
  }, 30_000);
});
