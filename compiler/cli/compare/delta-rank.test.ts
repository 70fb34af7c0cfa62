import { describe, expect, it } from 'vitest';
import { effectiveRank, singularValues } from './delta-rank.ts';

describe('singular values and effective rank', () => {
  it('a product of known factors: U diag(5, 2, 0.001) Vᵀ has those singular values', () => {
    // Orthonormal U [4, 3] and V [3, 3] (a rotation), so σ = (5, 2, 0.001).
    const c = Math.cos(0.7);
    const s = Math.sin(0.7);
    const U = [
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0.5, 0.5, -0.5],
      [0.5, -0.5, -0.5],
    ];
    const V = [
      [c, -s, 0],
      [s, c, 0],
      [0, 0, 1],
    ];
    const d = [5, 2, 0.001];
    const m = new Float64Array(12);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) m[i * 3 + j] += U[i][k] * d[k] * V[j][k];
    const sv = singularValues(m, 4, 3);
    expect(sv[0]).toBeCloseTo(5, 10);
    expect(sv[1]).toBeCloseTo(2, 10);
    expect(sv[2]).toBeCloseTo(0.001, 10);
    expect(effectiveRank(sv, 0.01)).toBe(2);
    expect(effectiveRank(sv, 1e-6)).toBe(3);
    // The transpose has the same singular values (the other Gram matrix).
    const mt = new Float64Array(12);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) mt[j * 4 + i] = m[i * 3 + j];
    expect(singularValues(mt, 3, 4).map((v) => +v.toFixed(9))).toEqual(sv.map((v) => +v.toFixed(9)));
  });

  it('a rank-one outer product has effective rank 1; zero has 0', () => {
    const m = new Float64Array(64 * 64);
    for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) m[i * 64 + j] = Math.sin(i + 1) * Math.cos(2 * j + 1);
    expect(effectiveRank(singularValues(m, 64, 64), 1e-6)).toBe(1);
    expect(effectiveRank(singularValues(new Float64Array(9), 3, 3), 0.01)).toBe(0);
  });
});
