import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyLeft, applyRight, bidiagonalize } from './bidiagonal.ts';
import { bidiagonalKernel } from './bidiagonal-wasm.ts';

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
