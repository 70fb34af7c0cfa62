import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyLeft, applyRight, bidiagonalize } from './bidiagonal.ts';
import { rowPassKernel } from './bidiagonal-wasm.ts';

const matrix = fc
  .tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 1e6 }))
  .map(([a, b, seed]) => {
    const [m, n] = [Math.max(a, b), Math.min(a, b)];
    let s = seed;
    return { m, n, data: Float64Array.from({ length: m * n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1) };
  });

describe('bidiagonalize', () => {
  it('the WebAssembly kernel is there in Node (else the fast path would silently be the loop)', () => {
    expect(rowPassKernel(1024)).not.toBeNull();
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
