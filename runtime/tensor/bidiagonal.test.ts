import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { applyLeft, applyRight, bidiagonalize, type RowPassHelper, setRowPassHelper } from './bidiagonal.ts';
import { bidiagonalKernel, type BidiagonalKernel } from './bidiagonal-wasm.ts';
import { installRowPassThreads } from './bidiagonal-threads.ts';

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

  it('W = Q_L B Q_Rᵀ, and the WebAssembly row pass agrees with the JavaScript loop, whole or in halves (property)', () => {
    fc.assert(
      fc.property(matrix, fc.constantFrom(0, Infinity), ({ m, n, data }, splitMin) => {
        const fast = bidiagonalize(data, m, n, { splitMin });
        const loop = bidiagonalize(data, m, n, { wasm: false, splitMin });
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
const bits = (b: { d: Float64Array; e: Float64Array; a: Float64Array }) => [b.d, b.e, b.a].map((x) => [...x].map((v) => (Object.is(v, -0) ? '-0' : v)));

/** A helper that runs the halves on this thread (no worker), the second one first where `swap`. */
function inThreadHelper(swap: boolean): RowPassHelper & { jobs: number } {
  const helper = {
    jobs: 0,
    attach: (kernel: BidiagonalKernel) => ({
      ready: () => true,
      close: () => {},
      run(args: number[], chunks: [number, number, number][]): [number, number] {
        helper.jobs++;
        const out: [number, number] = [0, 0];
        for (const i of swap ? [1, 0] : [0, 1]) {
          const [lo, hi, wn] = chunks[i];
          out[i] = kernel.pass(args[0], args[1], args[2], wn, args[4], args[5], args[6], lo, hi, args[9], args[10], args[11]);
        }
        return out;
      },
    }),
  };
  return helper;
}

const sized = (maxSize: number) =>
  fc.tuple(fc.integer({ min: 1, max: maxSize }), fc.integer({ min: 1, max: maxSize }), fc.integer({ min: 0, max: 1e6 })).map(([x, y, seed]) => {
    const [m, n] = [Math.max(x, y), Math.min(x, y)];
    let s = seed;
    return { m, n, data: Float64Array.from({ length: m * n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1) };
  });

describe('bidiagonalize: the pass in two halves, on two threads', () => {
  afterEach(() => setRowPassHelper(null));

  it('a helper running the halves (in either order) gives the bits of this thread running them, and is asked for every big step (property)', () => {
    fc.assert(
      fc.property(sized(40), fc.boolean(), fc.constantFrom(0, 64, 400), ({ m, n, data }, swap, splitMin) => {
        const alone = bidiagonalize(data, m, n, { splitMin });
        const helper = inThreadHelper(swap);
        setRowPassHelper(helper);
        const helped = bidiagonalize(data, m, n, { splitMin });
        setRowPassHelper(null);
        let big = 0;
        for (let k = 0; k < n - 1; k++) if ((m - k - 1) * (n - k - 1) >= splitMin) big++;
        expect(helper.jobs).toBe(big);
        expect(bits(helped)).toEqual(bits(alone));
      }),
      { seed: 11, numRuns: 60 },
    );
  });

  it('the halves change only rounding: within 1e-13 of the whole pass, and the JavaScript loop cuts them the same way (property)', () => {
    fc.assert(
      fc.property(sized(40), ({ m, n, data }) => {
        const whole = bidiagonalize(data, m, n, { splitMin: Infinity });
        const halves = bidiagonalize(data, m, n, { splitMin: 0 });
        const loop = bidiagonalize(data, m, n, { splitMin: 0, wasm: false });
        for (const [x, y] of [[halves, whole], [loop, halves]]) {
          x.d.forEach((v, i) => expect(Math.abs(v - y.d[i])).toBeLessThan(1e-13 * n));
          x.e.forEach((v, i) => expect(Math.abs(v - y.e[i])).toBeLessThan(1e-13 * n));
        }
      }),
      { seed: 12, numRuns: 40 },
    );
  });

  it('with the worker thread: the same bits as one thread, and the worker takes halves', async () => {
    const [m, n] = [160, 120];
    let s = 3;
    const data = Float64Array.from({ length: m * n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1);
    const one = bits(bidiagonalize(data, m, n, { splitMin: 0 }));
    const threads = installRowPassThreads();
    const before = threads.workerChunks();
    // the worker boots in tens of ms (until then both halves run here), and on a loaded machine it may
    // wake too late for any half of a run: run until it has taken some, for up to 10 s
    const t0 = Date.now();
    do {
      expect(bits(bidiagonalize(data, m, n, { splitMin: 0 }))).toEqual(one);
      await new Promise((r) => setTimeout(r, 5));
    } while (threads.workerChunks() === before && Date.now() - t0 < 10_000);
    expect(threads.workerChunks()).toBeGreaterThan(before);
    expect(bits(bidiagonalize(data, m, n, { splitMin: 0 }))).toEqual(one);
  });
});
