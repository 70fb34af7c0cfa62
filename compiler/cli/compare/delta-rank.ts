// ΔW of each adapted layer after training, and its effective rank: the number of singular values
// above a fraction of the largest (the Lily paper's measure of how much of the weight space an
// adapter reaches). ΔW = f(I) − f(0) for the adapter's delta f at its trained values (minus W0 for
// adapters written as a whole forward map); for adapters whose delta is not linear in x (Lily's
// router reads the batch), that is the change seen by a batch of the In unit vectors.
import type { CheckedProgram } from '../../check/check.ts';
import { runEntry } from '../../interp/run.ts';
import type { AdaptedLayer } from '../../interp/targets.ts';
import type { Tensor } from '../../../runtime/tensor/index.ts';

type Values = Map<string, { shape: number[]; data: ArrayLike<number> }>;
const asTensor = (v: { shape: number[]; data: ArrayLike<number> }): Tensor => ({ shape: v.shape, data: Float64Array.from(v.data) });

/** ΔW [In, Out] of one adapted layer, from the trained values (by leaf path) and the frozen base. */
export function adapterDeltaW(checked: CheckedProgram, layer: AdaptedLayer, trained: Values, initial: Values): Float64Array {
  const value = (leaf: string) => trained.get(leaf) ?? initial.get(leaf);
  const given = new Map<string, Tensor>();
  for (const [name, leaf] of layer.params) given.set(name, asTensor(value(leaf)!));
  const W0 = asTensor(value(`${layer.layer}.W`)!);
  given.set('base.W', W0).set('base.b', asTensor(value(`${layer.layer}.b`)!));
  const unit = checked.units.get(layer.adapter)!;
  const forwardForm = !unit.methods.has('delta');
  const { In, Out } = layer;
  const settings = { ...layer.settings, In, Out, N: In };
  const at = (x: Float64Array) => (runEntry(checked, layer.adapter, { settings, inputs: new Map([['x', { shape: [In, In], data: x }]]), given }).output as { t: Tensor }).t.data;
  const eye = new Float64Array(In * In);
  for (let i = 0; i < In; i++) eye[i * In + i] = 1;
  const f1 = at(eye);
  const f0 = at(new Float64Array(In * In));
  return Float64Array.from(f1, (v, i) => v - f0[i] - (forwardForm ? W0.data[i] : 0));
}

/** ΔW of a weight trained whole: trained − initial. */
export function weightDeltaW(leaf: string, trained: Values, initial: Values): Float64Array {
  const t = trained.get(leaf)!.data;
  const w0 = initial.get(leaf)!.data;
  return Float64Array.from({ length: t.length }, (_, i) => t[i] - w0[i]);
}

/** Singular values of a [rows, cols] matrix, largest first (cyclic Jacobi on the smaller Gram matrix). */
export function singularValues(m: ArrayLike<number>, rows: number, cols: number): number[] {
  const n = Math.min(rows, cols);
  // G = MᵀM (cols ≤ rows) or MMᵀ: symmetric n×n with eigenvalues σ².
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      let s = 0;
      if (cols <= rows) for (let k = 0; k < rows; k++) s += m[k * cols + i] * m[k * cols + j];
      else for (let k = 0; k < cols; k++) s += m[i * cols + k] * m[j * cols + k];
      g[i * n + j] = g[j * n + i] = s;
    }
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += g[p * n + q] ** 2;
    if (off < 1e-30 * Math.max(1e-300, [...Array(n).keys()].reduce((s, i) => s + g[i * n + i] ** 2, 0))) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = g[p * n + q];
        if (apq === 0) continue;
        const theta = (g[q * n + q] - g[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const gkp = g[k * n + p];
          const gkq = g[k * n + q];
          g[k * n + p] = c * gkp - s * gkq;
          g[k * n + q] = s * gkp + c * gkq;
        }
        for (let k = 0; k < n; k++) {
          const gpk = g[p * n + k];
          const gqk = g[q * n + k];
          g[p * n + k] = c * gpk - s * gqk;
          g[q * n + k] = s * gpk + c * gqk;
        }
      }
  }
  return [...Array(n).keys()].map((i) => Math.sqrt(Math.max(0, g[i * n + i]))).sort((a, b) => b - a);
}

/** Singular values above `threshold` × the largest (0 for a zero matrix). */
export function effectiveRank(sv: number[], threshold: number): number {
  const top = sv[0] ?? 0;
  return top > 0 ? sv.filter((s) => s > threshold * top).length : 0;
}
