import { afterAll, describe, expect, it } from 'vitest';
import {
  createTfjsLilyStep,
  initTfjsBackend,
  lilyStepFlops,
  loadTf,
  type AdamWHyper,
  type LilyStep,
  type LilyStepInit,
  type TfjsBackendName,
} from './lily-step.ts';

// ---------------------------------------------------------------------------
// independent float64 reference of the same forward (plain JS, no tfjs)

interface Dims {
  N: number;
  In: number;
  Out: number;
  r: number;
  E: number;
}
interface F64Params {
  A: Float64Array;
  R: Float64Array;
  B: Float64Array;
}

function refLoss(d: Dims, init: LilyStepInit, P: F64Params): number {
  const { N, In, Out, r, E } = d;
  const x = init.x.data, t = init.t.data, W0 = init.W0.data, b0 = init.b0.data, s = init.s;
  const { A, R, B } = P;
  // h = x A
  const h = new Float64Array(N * r);
  for (let n = 0; n < N; n++)
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let i = 0; i < In; i++) acc += x[n * In + i] * A[i * r + j];
      h[n * r + j] = acc;
    }
  // p = mean_n softmax_e(h R)
  const p = new Float64Array(E);
  for (let n = 0; n < N; n++) {
    const z = new Float64Array(E);
    for (let e = 0; e < E; e++) {
      let acc = 0;
      for (let j = 0; j < r; j++) acc += h[n * r + j] * R[j * E + e];
      z[e] = acc;
    }
    const mx = Math.max(...z);
    let den = 0;
    for (let e = 0; e < E; e++) den += Math.exp(z[e] - mx);
    for (let e = 0; e < E; e++) p[e] += Math.exp(z[e] - mx) / den / N;
  }
  // y = x W0 + b0 + s Σ_e p[e] (h B[e]); loss = mean (y − t)²
  let loss = 0;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Out; o++) {
      let y = b0[o];
      for (let i = 0; i < In; i++) y += x[n * In + i] * W0[i * Out + o];
      let delta = 0;
      for (let e = 0; e < E; e++) {
        let he = 0;
        for (let j = 0; j < r; j++) he += h[n * r + j] * B[(e * r + j) * Out + o];
        delta += p[e] * he;
      }
      y += s * delta;
      loss += (y - t[n * Out + o]) ** 2;
    }
  return loss / (N * Out);
}

/** central finite differences of refLoss in float64 */
function refGrads(d: Dims, init: LilyStepInit, P: F64Params, h = 1e-6): F64Params {
  const out = { A: new Float64Array(P.A.length), R: new Float64Array(P.R.length), B: new Float64Array(P.B.length) };
  for (const k of ['A', 'R', 'B'] as const) {
    const arr = P[k];
    for (let i = 0; i < arr.length; i++) {
      const keep = arr[i];
      arr[i] = keep + h;
      const lp = refLoss(d, init, P);
      arr[i] = keep - h;
      const lm = refLoss(d, init, P);
      arr[i] = keep;
      out[k][i] = (lp - lm) / (2 * h);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32; // [0, 1)
  };
}
function randF32(n: number, rnd: () => number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * rnd() - 1) * scale;
  return a;
}

const HYPER: AdamWHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

function makeInit(d: Dims, seed: number, adamw: AdamWHyper = HYPER): LilyStepInit {
  const { N, In, Out, r, E } = d;
  const rnd = lcg(seed);
  return {
    x: { data: randF32(N * In, rnd, 1), shape: [N, In] },
    t: { data: randF32(N * Out, rnd, 1), shape: [N, Out] },
    W0: { data: randF32(In * Out, rnd, 0.5), shape: [In, Out] },
    b0: { data: randF32(Out, rnd, 0.5), shape: [Out] },
    A: { data: randF32(In * r, rnd, 0.7), shape: [In, r] },
    // router large enough that softmax is far from uniform (its gradient matters)
    R: { data: randF32(r * E, rnd, 1.5), shape: [r, E] },
    B: { data: randF32(E * r * Out, rnd, 0.7), shape: [E, r, Out] },
    s: 1.7,
    adamw,
  };
}
const toF64 = (init: LilyStepInit): F64Params => ({
  A: Float64Array.from(init.A.data),
  R: Float64Array.from(init.R.data),
  B: Float64Array.from(init.B.data),
});

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - (atol + rtol * Math.abs(want[i]));
    if (excess > worst) (worst = excess), (at = i);
  }
  if (at >= 0) expect.fail(`${what}[${at}]: got ${got[at]}, want ${want[at]}`);
}

const SMALL: Dims = { N: 5, In: 4, Out: 3, r: 2, E: 3 };
const BACKENDS: TfjsBackendName[] = ['cpu', 'wasm'];
const steps: LilyStep[] = [];
async function make(be: TfjsBackendName, init: LilyStepInit, opts = {}): Promise<LilyStep> {
  const st = await createTfjsLilyStep(be, init, opts);
  steps.push(st);
  return st;
}
afterAll(() => {
  for (const st of steps) st.dispose();
});

describe.each(BACKENDS)('tfjs Lily step on %s', (be) => {
  it('loss equals the float64 reference; gradients equal central finite differences', async () => {
    const init = makeInit(SMALL, 7);
    const ref = toF64(init);
    const want = refGrads(SMALL, init, ref);
    const wantLoss = refLoss(SMALL, init, ref);
    for (const opts of [{}, { naive: 'batched' as const }, { folded: true }]) {
      const st = await make(be, init, opts);
      expect(Math.abs((await st.loss()) - wantLoss)).toBeLessThan(1e-5 * Math.max(1, wantLoss));
      const g = await st.grads();
      const tag = `${be} ${JSON.stringify(opts)}`;
      // measured float32-vs-float64 error: ≤ 7e-8 absolute (gradients up to ~0.25); a 1e-4 relative bug fails
      // sanity: the reference gradients are not trivially small
      expect(Math.max(...want.R.map(Math.abs)), 'router grad magnitude').toBeGreaterThan(1e-3);
      expectClose(g.A, want.A, 1e-6, 2e-5, `dA ${tag}`);
      expectClose(g.R, want.R, 1e-6, 2e-5, `dR ${tag}`);
      expectClose(g.B, want.B, 1e-6, 2e-5, `dB ${tag}`);
      st.dispose();
    }
  });

  it('naive (per-expert and batched) and folded forms agree over several AdamW steps', async () => {
    const d: Dims = { N: 16, In: 12, Out: 10, r: 4, E: 4 };
    const init = makeInit(d, 11);
    const a = await make(be, init);
    const b = await make(be, init, { naive: 'batched' });
    const c = await make(be, init, { folded: true });
    for (let k = 0; k < 4; k++) {
      const [la, lb, lc] = [await a.step(), await b.step(), await c.step()];
      expect(Math.abs(lb - la)).toBeLessThan(1e-5 * Math.max(1, la));
      expect(Math.abs(lc - la)).toBeLessThan(1e-5 * Math.max(1, la));
    }
    const [pa, pb, pc] = [await a.params(), await b.params(), await c.params()];
    for (const k of ['A', 'R', 'B'] as const) {
      expectClose(pb[k], pa[k], 1e-5, 1e-4, `batched ${k}`);
      expectClose(pc[k], pa[k], 1e-5, 1e-4, `folded ${k}`);
    }
  });

  it('AdamW steps equal a hand-computed update (PyTorch semantics, bias correction, decoupled decay)', async () => {
    const hyper: AdamWHyper = { lr: 0.05, beta1: 0.8, beta2: 0.95, eps: 1e-3, weightDecay: 0.3, step: 2 };
    const init = makeInit(SMALL, 3, hyper);
    const st = await make(be, init);
    // expected state, by hand in float64
    let p = { A: Float64Array.from(init.A.data), R: Float64Array.from(init.R.data), B: Float64Array.from(init.B.data) };
    const m = { A: new Float64Array(p.A.length), R: new Float64Array(p.R.length), B: new Float64Array(p.B.length) };
    const v = { A: new Float64Array(p.A.length), R: new Float64Array(p.R.length), B: new Float64Array(p.B.length) };
    for (let t = 3; t <= 5; t++) {
      // the gradient at the current (tfjs) params; its correctness is the previous test's business
      const g = await st.grads();
      const loss = await st.step();
      expect(Math.abs(loss - refLoss(SMALL, init, p))).toBeLessThan(1e-5);
      const next = { A: new Float64Array(p.A.length), R: new Float64Array(p.R.length), B: new Float64Array(p.B.length) };
      for (const k of ['A', 'R', 'B'] as const) {
        for (let i = 0; i < p[k].length; i++) {
          m[k][i] = hyper.beta1 * m[k][i] + (1 - hyper.beta1) * g[k][i];
          v[k][i] = hyper.beta2 * v[k][i] + (1 - hyper.beta2) * g[k][i] * g[k][i];
          const mHat = m[k][i] / (1 - hyper.beta1 ** t);
          const vHat = v[k][i] / (1 - hyper.beta2 ** t);
          const decayed = p[k][i] - hyper.lr * hyper.weightDecay * p[k][i];
          next[k][i] = decayed - (hyper.lr * mHat) / (Math.sqrt(vHat) + hyper.eps);
        }
      }
      p = next;
      const got = await st.params();
      const state = await st.optimizerState();
      expect(state.t).toBe(t);
      for (const k of ['A', 'R', 'B'] as const) {
        expectClose(state.m[k], m[k], 1e-6, 1e-5, `m.${k} t=${t}`);
        expectClose(state.v[k], v[k], 1e-7, 1e-5, `v.${k} t=${t}`);
        expectClose(got[k], p[k], 1e-6, 1e-5, `${k} t=${t}`);
      }
    }
  });

  it('first AdamW step on a 1-element-per-entry closed form: p(1−lr·wd) − lr·g/(|g|+eps)', async () => {
    // at t=1, m̂ = g and v̂ = g² exactly, so the update is known without any running state
    const hyper: AdamWHyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 };
    const init = makeInit(SMALL, 5, hyper);
    const st = await make(be, init);
    const g = await st.grads();
    await st.step();
    const got = await st.params();
    for (const k of ['A', 'R', 'B'] as const) {
      const want = Array.from(init[k].data, (p0, i) => p0 * (1 - 0.01 * 0.5) - (0.01 * g[k][i]) / (Math.abs(g[k][i]) + 1e-8));
      expectClose(got[k], want, 1e-6, 1e-5, `${k}`);
    }
  });

  it('tensor count stays flat across steps, grads() and params(); dispose releases everything', async () => {
    const tf = await loadTf();
    const before = tf.memory().numTensors;
    const st = await createTfjsLilyStep(be, makeInit({ N: 8, In: 6, Out: 5, r: 2, E: 3 }, 9));
    await st.step();
    const after1 = tf.memory().numTensors;
    for (let k = 0; k < 5; k++) {
      await st.step();
      await st.grads();
      await st.params();
      await st.loss();
    }
    expect(tf.memory().numTensors).toBe(after1);
    // 4 constants + 3 params + 3 m + 3 v
    expect(after1 - before).toBe(13);
    st.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('backend switching', () => {
  it('wasm and cpu step objects interleaved in one process give the same trajectory', async () => {
    const d: Dims = { N: 10, In: 8, Out: 6, r: 3, E: 4 };
    const init = makeInit(d, 21);
    const w = await make('wasm', init);
    const c = await make('cpu', init);
    const tf = await loadTf();
    for (let k = 0; k < 3; k++) {
      const lw = await w.step();
      expect(tf.getBackend()).toBe('wasm');
      const lc = await c.step();
      expect(tf.getBackend()).toBe('cpu');
      expect(Math.abs(lw - lc)).toBeLessThan(1e-5 * Math.max(1, lc));
    }
    // switching explicitly, then using the other backend's object, still works
    await initTfjsBackend('cpu');
    const pw = await w.params();
    expect(tf.getBackend()).toBe('wasm');
    const pc = await c.params();
    for (const k of ['A', 'R', 'B'] as const) expectClose(pw[k], pc[k], 1e-6, 1e-5, k);
  });

  it('concurrent steps on both backends (Promise.all) match sequential ones and do not migrate tensors', async () => {
    const d: Dims = { N: 10, In: 8, Out: 6, r: 3, E: 4 };
    const init = makeInit(d, 23);
    const [w, c, ref] = [await make('wasm', init), await make('cpu', init), await make('cpu', init)];
    const tf = await loadTf();
    // a tensor used under the wrong backend is silently MOVED there by tfjs: count each backend's buffers
    const registry = (tf.engine() as unknown as { registry: Record<string, { numDataIds(): number }> }).registry;
    const buffers = () => [registry.wasm.numDataIds(), registry.cpu.numDataIds()];
    const countBefore = tf.memory().numTensors;
    const buffersBefore = buffers();
    for (let k = 0; k < 3; k++) {
      const [lw, lc] = await Promise.all([w.step(), c.step()]);
      const lr = await ref.step();
      expect(Math.abs(lc - lr)).toBeLessThan(1e-7);
      expect(Math.abs(lw - lr)).toBeLessThan(1e-5 * Math.max(1, lr));
    }
    expect(tf.memory().numTensors).toBe(countBefore);
    expect(buffers()).toEqual(buffersBefore);
    const pw = await w.params(), pr = await ref.params();
    for (const k of ['A', 'R', 'B'] as const) expectClose(pw[k], pr[k], 1e-6, 1e-5, k);
  });

  it('rejects bad shapes; FLOP count of the paper shape', async () => {
    const init = makeInit(SMALL, 1);
    await expect(createTfjsLilyStep('cpu', { ...init, B: { data: init.B.data, shape: [2, 2, 3] } })).rejects.toThrow(/B: shape/);
    const f = lilyStepFlops({ N: 1024, In: 768, Out: 768, r: 16, E: 4 });
    expect(f / 1e9).toBeCloseTo(1.561, 2);
  });
});
