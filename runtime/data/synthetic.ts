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
  const batch = (i: number) => {
    const br = rng(opts.seed ?? 0).fork(`batch:${i}`);
    const x = Float32Array.from({ length: N * In }, () => br.normal());
    const t = new Float32Array(N * Out);
    for (let n = 0; n < N; n++)
      for (let o = 0; o < Out; o++) {
        let s = b0[o];
        for (let j = 0; j < In; j++) s += x[n * In + j] * (W0[j * Out + o] + dW[j * Out + o]);
        t[n * Out + o] = s + noise * br.normal();
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
