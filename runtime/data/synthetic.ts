// The embedded default data for `lily train`: a teacher layer. Inputs x ~ N(0, 1); targets are the
// frozen layer's output plus a hidden low-rank change ΔW* = U V (rank k) and a little noise — the
// situation an adapter is for. Deterministic in the seed.
import { rng } from '../init/rng.ts';

export interface TeacherTask {
  /** Draw batch number i (the same i gives the same batch). */
  batch(i: number): { x: Float32Array; t: Float32Array };
  /** Mean squared error of the frozen layer alone (the adapter's starting point) on a batch. */
  baselineLoss: number;
}

export function teacherTask(opts: { N: number; In: number; Out: number; W0: Float64Array | Float32Array; b0: Float64Array | Float32Array; rank?: number; noise?: number; seed?: number }): TeacherTask {
  const { N, In, Out, W0, b0 } = opts;
  const k = opts.rank ?? 2;
  const r = rng(opts.seed ?? 0).fork('teacher');
  const U = Float64Array.from({ length: In * k }, () => r.normal() / Math.sqrt(In));
  const V = Float64Array.from({ length: k * Out }, () => r.normal());
  const dW = new Float64Array(In * Out);
  for (let i = 0; i < In; i++) for (let a = 0; a < k; a++) for (let o = 0; o < Out; o++) dW[i * Out + o] += U[i * k + a] * V[a * Out + o];
  const noise = opts.noise ?? 0.01;
  // The teacher's weight W0 + ΔW*, once. Each target row is summed over j in order into a row of
  // accumulators (rows of W read contiguously: the column walk it replaces took ~60 ms a batch at
  // In = Out = N = 256); every target is the same sum, in the same order, as t = b0 + Σ_j x_j W_j.
  const W = new Float64Array(In * Out);
  for (let e = 0; e < In * Out; e++) W[e] = W0[e] + dW[e];
  const acc = new Float64Array(Out);
  const batch = (i: number) => {
    const br = rng(opts.seed ?? 0).fork(`batch:${i}`);
    const x = Float32Array.from({ length: N * In }, () => br.normal());
    const t = new Float32Array(N * Out);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < Out; o++) acc[o] = b0[o];
      for (let j = 0; j < In; j++) {
        const xj = x[n * In + j];
        for (let o = 0, w = j * Out; o < Out; o++, w++) acc[o] += xj * W[w];
      }
      for (let o = 0; o < Out; o++) t[n * Out + o] = acc[o] + noise * br.normal();
    }
    return { x, t };
  };
  // The frozen layer's own error: what the adapter has to remove.
  const b = batch(0);
  let base = 0;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Out; o++) {
      let s = b0[o];
      for (let j = 0; j < In; j++) s += b.x[n * In + j] * W0[j * Out + o];
      base += (s - b.t[n * Out + o]) ** 2;
    }
  return { batch, baselineLoss: base / (N * Out) };
}

/**
 * The default data for a model with adapters attached: the teacher is the same model whose adapted
 * layers' frozen weights carry a hidden low-rank change (W + U V), evaluated by the reference
 * interpreter; the student (frozen base + adapters) must learn the changes.
 */
export function teacherModelTask(opts: {
  /** Evaluate the model on a batch with the given weights (by leaf path). */
  forward: (x: Float64Array, weights: Map<string, { shape: number[]; data: Float64Array }>) => Float64Array;
  leaves: Map<string, { shape: number[]; data: Float64Array | Float32Array }>;
  /** Leaf paths of the adapted layers' weights (e.g. hidden.0.fc.W). */
  adaptedWeights: string[];
  xShape: number[];
  rank?: number;
  seed?: number;
}): TeacherTask {
  const k = opts.rank ?? 2;
  const r = rng(opts.seed ?? 0).fork('teacher-model');
  const weights = new Map<string, { shape: number[]; data: Float64Array }>();
  for (const [name, t] of opts.leaves) weights.set(name, { shape: t.shape, data: Float64Array.from(t.data) });
  for (const name of opts.adaptedWeights) {
    const W = weights.get(name)!;
    const [In, Out] = W.shape;
    const U = Float64Array.from({ length: In * k }, () => r.normal() / Math.sqrt(In));
    const V = Float64Array.from({ length: k * Out }, () => r.normal() * 0.5);
    for (let i = 0; i < In; i++) for (let a = 0; a < k; a++) for (let o = 0; o < Out; o++) W.data[i * Out + o] += U[i * k + a] * V[a * Out + o];
  }
  const n = opts.xShape.reduce((a, b) => a * b, 1);
  const batch = (i: number) => {
    const br = rng(opts.seed ?? 0).fork(`batch:${i}`);
    const x = Float64Array.from({ length: n }, () => br.normal());
    return { x: Float32Array.from(x), t: Float32Array.from(opts.forward(x, weights)) };
  };
  const b = batch(0);
  const frozen = opts.forward(Float64Array.from(b.x), new Map([...opts.leaves].map(([k2, t]) => [k2, { shape: t.shape, data: Float64Array.from(t.data) }])));
  const baselineLoss = frozen.reduce((acc, v, i) => acc + (v - b.t[i]) ** 2, 0) / frozen.length;
  return { batch, baselineLoss };
}
