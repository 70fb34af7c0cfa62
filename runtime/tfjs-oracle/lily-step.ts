/**
 * Hand-written TensorFlow.js version of ONE training step of the Lily adapter
 * on a frozen linear layer. It is (a) the baseline the Lily compiler is
 * benchmarked against (bench/tfjs/step-bench.ts) and (b) an independent oracle
 * for the compiler's gradients: nothing here uses the Lily compiler or runtime.
 *
 * Shapes: x [N, In], t [N, Out], frozen W0 [In, Out], b0 [Out];
 * adapter A [In, r], R [r, E] (router), B [E, r, Out]; scale s.
 *
 *   h     = x A                                   [N, r]
 *   p     = mean_N softmax(h R, axis E)           [E]
 *   delta = s · Σ_e p[e] · (h B[e])               naive   (per-expert matmuls, or one batched matmul)
 *         = s · h (Σ_e p[e] B[e])                 folded  (opts.folded)
 *   y     = x W0 + b0 + delta
 *   loss  = mean((y − t)²)  over all N·Out entries
 *
 * Gradients: tf.variableGrads w.r.t. A, R, B only (x, t, W0, b0 are plain
 * tensors, so tfjs never back-propagates through x·W0).
 * Optimizer: AdamW with PyTorch semantics, written by hand with tf ops:
 *   p ← p − lr·wd·p ;  m ← β1 m + (1−β1) g ;  v ← β2 v + (1−β2) g²
 *   p ← p − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps)
 * with m and v kept as (non-trainable) tf.Variables.
 *
 * Backends: 'wasm' (tfjs-backend-wasm, SIMD, single-threaded in Node) and
 * 'cpu' (tfjs-backend-cpu, plain JS). Several step objects on different
 * backends may coexist in one process: every method makes its own backend
 * current before touching tensors (see `onBackend`).
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { registerTfjsGradients } from './gradients.ts';

export type Tf = typeof import('@tensorflow/tfjs-core');
type Tensor = import('@tensorflow/tfjs-core').Tensor;
type Variable = import('@tensorflow/tfjs-core').Variable;
type Scalar = import('@tensorflow/tfjs-core').Scalar;

export type TfjsBackendName = 'wasm' | 'cpu';

/** A dense float32 array with its row-major dims. */
export interface F32Dims {
  data: Float32Array;
  shape: readonly number[];
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** number of optimizer steps already taken (default 0): the first step() uses t = step + 1 */
  step?: number;
}

export interface LilyStepInit {
  x: F32Dims; // [N, In]
  t: F32Dims; // [N, Out]
  W0: F32Dims; // [In, Out]  frozen
  b0: F32Dims; // [Out]      frozen
  A: F32Dims; // [In, r]
  R: F32Dims; // [r, E]
  B: F32Dims; // [E, r, Out]
  s: number;
  adamw: AdamWHyper;
}

export interface LilyStepOptions {
  /** delta = s · h (Σ_e p[e] B[e]) instead of the naive per-expert sum (default false) */
  folded?: boolean;
  /** how the naive form is written (ignored when folded): E separate matmuls (default) or one batched matmul */
  naive?: 'per-expert' | 'batched';
}

export interface LilyParams {
  A: Float32Array;
  R: Float32Array;
  B: Float32Array;
}

export interface LilyStep {
  readonly backend: TfjsBackendName;
  readonly dims: { N: number; In: number; Out: number; r: number; E: number };
  /** one training step (loss + grads at the current params, then AdamW); resolves to the loss BEFORE the update */
  step(): Promise<number>;
  /** loss at the current params (no update) */
  loss(): Promise<number>;
  /** d loss / d {A, R, B} at the current params (no update) */
  grads(): Promise<LilyParams>;
  params(): Promise<LilyParams>;
  /** AdamW state: first/second moments and the number of steps taken */
  optimizerState(): Promise<{ m: LilyParams; v: LilyParams; t: number }>;
  dispose(): void;
}

// ---------------------------------------------------------------------------
// backend loading

let tfPromise: Promise<Tf> | null = null;

/** Import tfjs-core + both backends once per process; point the wasm loader at node_modules (no network). */
export function loadTf(): Promise<Tf> {
  tfPromise ??= (async () => {
    const require = createRequire(import.meta.url);
    // tfjs-core prints a "use tfjs-node" banner (console.warn) the first time a backend is used in Node
    const tf = (await import('@tensorflow/tfjs-core')) as Tf;
    tf.enableProdMode(); // no per-op NaN checks / debug banners
    // the CommonJS tfjs-core registers no gradients at all: see gradients.ts
    registerTfjsGradients(tf);
    await import('@tensorflow/tfjs-backend-cpu');
    const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as typeof import('@tensorflow/tfjs-backend-wasm');
    // must happen before the wasm backend is first initialised
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
    wasm.setWasmPaths(dist + path.sep);
    return tf;
  })();
  return tfPromise;
}

/**
 * Make `name` the current tfjs backend (initialising it the first time; later
 * calls are cheap). Switching back and forth between 'wasm' and 'cpu' in one
 * process works; tensors are NOT moved eagerly, but a tensor created under one
 * backend and used under the other is silently migrated (copied) by tfjs —
 * so always call this before touching a backend's tensors.
 */
export async function initTfjsBackend(name: TfjsBackendName): Promise<Tf> {
  const tf = await loadTf();
  if (tf.getBackend() === name) return tf;
  const warn = console.warn;
  console.warn = () => {};
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } finally {
    console.warn = warn;
  }
  if (!ok || tf.getBackend() !== name) throw new Error(`tfjs backend '${name}' failed to initialise`);
  return tf;
}

// ---------------------------------------------------------------------------
// the step

function checkShape(what: string, a: F32Dims, want: readonly number[]): void {
  const ok = a.shape.length === want.length && a.shape.every((d, i) => d === want[i]);
  if (!ok) throw new Error(`${what}: shape [${a.shape.join(', ')}], expected [${want.join(', ')}]`);
  const n = want.reduce((p, d) => p * d, 1);
  if (a.data.length !== n) throw new Error(`${what}: ${a.data.length} elements, expected ${n}`);
}

/** Matmul FLOPs (2·M·K·N each) of one training step; elementwise work is ignored. */
export function lilyStepFlops(d: { N: number; In: number; Out: number; r: number; E: number }, folded = false): number {
  const { N, In, Out, r, E } = d;
  const base = 2 * N * In * Out; // x W0 (frozen: no backward)
  const down = 2 * N * In * r * 2; // x A, and dA = xᵀ dh
  const router = 2 * N * r * E * 3; // h R, dh += dlogits Rᵀ, dR = hᵀ dlogits
  const up = folded
    ? 2 * N * r * Out * 3 + 2 * E * r * Out * 2 // h Bf, dh = gy Bfᵀ, dBf = hᵀ gy ; Bf = Σ p B and its grad
    : E * 2 * N * r * Out * 3; // per expert: h B[e], dh_e = gy B[e]ᵀ, dB[e] = hᵀ gy
  return base + down + router + up;
}

export async function createTfjsLilyStep(
  backend: TfjsBackendName,
  init: LilyStepInit,
  opts: LilyStepOptions = {},
): Promise<LilyStep> {
  const [N, In] = init.x.shape;
  const Out = init.W0.shape[1];
  const r = init.A.shape[1];
  const E = init.R.shape[1];
  if ([N, In, Out, r, E].some((d) => !Number.isInteger(d) || d <= 0)) throw new Error('bad dims');
  checkShape('x', init.x, [N, In]);
  checkShape('t', init.t, [N, Out]);
  checkShape('W0', init.W0, [In, Out]);
  checkShape('b0', init.b0, [Out]);
  checkShape('A', init.A, [In, r]);
  checkShape('R', init.R, [r, E]);
  checkShape('B', init.B, [E, r, Out]);
  const folded = opts.folded ?? false;
  const naive = opts.naive ?? 'per-expert';
  const { lr, beta1, beta2, eps, weightDecay } = init.adamw;
  const s = init.s;

  const tf = await initTfjsBackend(backend);
  /**
   * Run `fn` (synchronous tf work) with `backend` current. The check and `fn` run in the same
   * synchronous continuation, so a concurrent call on another backend (e.g. Promise.all of a wasm
   * and a cpu step) cannot switch the backend in between.
   */
  const onBackend = async <T>(fn: () => T): Promise<T> => {
    while (tf.getBackend() !== backend) await initTfjsBackend(backend);
    return fn();
  };

  // Everything below is created synchronously under `backend`.
  // Inputs are copied: tfjs-backend-cpu keeps a reference to the array passed to tf.tensor(), so a
  // caller mutating its Float32Array afterwards would otherwise change our tensors.
  // x W0 + b0 does not depend on the adapter; it is still recomputed every step (it is part of the
  // step's cost we benchmark against) — tfjs prunes it from the backward pass automatically.
  const x = tf.tensor2d(init.x.data.slice(), [N, In]);
  const tt = tf.tensor2d(init.t.data.slice(), [N, Out]);
  const W0 = tf.tensor2d(init.W0.data.slice(), [In, Out]);
  const b0 = tf.tensor1d(init.b0.data.slice());
  // tf.variable(init) shares init's data but does not take ownership of the init tensor:
  // create inside tidy so the temporary handle is released (variables are not tracked by tidy)
  const params: Variable[] = tf.tidy(() => [
    tf.variable(tf.tensor2d(init.A.data.slice(), [In, r]), true),
    tf.variable(tf.tensor2d(init.R.data.slice(), [r, E]), true),
    tf.variable(tf.tensor3d(init.B.data.slice(), [E, r, Out]), true),
  ]);
  const [A, R, B] = params;
  // m, v non-trainable: tf.variableGrads without a varList would otherwise differentiate them too
  const ms = tf.tidy(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
  const vs = tf.tidy(() => params.map((p) => tf.variable(tf.zerosLike(p), false)));
  let t = init.adamw.step ?? 0;
  let disposed = false;

  const forwardLoss = (): Scalar => {
    const h = tf.matMul(x, A); // [N, r]
    const p = tf.mean(tf.softmax(tf.matMul(h, R)), 0); // [E]
    let delta: Tensor;
    if (folded) {
      const Bf = tf.sum(tf.mul(tf.reshape(p, [E, 1, 1]), B), 0); // [r, Out]
      delta = tf.matMul(h, Bf);
    } else if (naive === 'batched') {
      const hb = tf.broadcastTo(tf.reshape(h, [1, N, r]), [E, N, r]);
      const ye = tf.matMul(hb, B); // [E, N, Out]
      delta = tf.sum(tf.mul(tf.reshape(p, [E, 1, 1]), ye), 0);
    } else {
      let acc: Tensor | null = null;
      for (let e = 0; e < E; e++) {
        const Be = tf.reshape(tf.slice(B, [e, 0, 0], [1, r, Out]), [r, Out]);
        const pe = tf.slice(p, [e], [1]); // [1], broadcasts over [N, Out]
        const term = tf.mul(pe, tf.matMul(h, Be));
        acc = acc === null ? term : tf.add(acc, term);
      }
      delta = acc!;
    }
    const y = tf.add(tf.add(tf.matMul(x, W0), b0), tf.mul(tf.scalar(s), delta));
    // mean over rows, then over N (same value): tfjs-backend-wasm's Mean accumulates in float32
    // sequentially, so one flat mean over N·Out = 786k entries is off by ~3e-4 relative at the
    // paper's shape (tfjs-backend-cpu accumulates in float64); two levels keep wasm at ~1e-6.
    return tf.mean(tf.mean(tf.squaredDifference(y, tt), 1)) as Scalar;
  };

  const live = () => {
    if (disposed) throw new Error('tfjs Lily step used after dispose()');
  };
  const read = async (ts: Tensor[]): Promise<LilyParams> => {
    // copy: tfjs-backend-cpu's data() hands out its internal array
    const [a, rr, b] = await Promise.all(ts.map(async (v) => ((await v.data()) as Float32Array).slice()));
    return { A: a, R: rr, B: b };
  };

  return {
    backend,
    dims: { N, In, Out, r, E },

    async step() {
      live();
      const loss = await onBackend(() => tf.tidy(() => {
        t += 1;
        const bc1 = 1 - beta1 ** t;
        const bc2 = 1 - beta2 ** t;
        const { value, grads } = tf.variableGrads(forwardLoss, params);
        const cLr = tf.scalar(lr);
        const cDecay = tf.scalar(1 - lr * weightDecay);
        const cB1 = tf.scalar(beta1), c1B1 = tf.scalar(1 - beta1);
        const cB2 = tf.scalar(beta2), c1B2 = tf.scalar(1 - beta2);
        const cBc1 = tf.scalar(bc1), cBc2 = tf.scalar(bc2), cEps = tf.scalar(eps);
        params.forEach((pv, i) => {
          const g = grads[pv.name];
          const m = tf.add(tf.mul(cB1, ms[i]), tf.mul(c1B1, g));
          const v = tf.add(tf.mul(cB2, vs[i]), tf.mul(c1B2, tf.square(g)));
          ms[i].assign(m);
          vs[i].assign(v);
          const mHat = tf.div(m, cBc1);
          const vHat = tf.div(v, cBc2);
          const decayed = tf.mul(pv, cDecay); // decoupled weight decay: p − lr·wd·p
          pv.assign(tf.sub(decayed, tf.mul(cLr, tf.div(mHat, tf.add(tf.sqrt(vHat), cEps)))));
        });
        return value;
      }));
      // wasm/cpu kernels run eagerly, so the work is already done; reading the loss makes sure of it
      const out = (await loss.data())[0];
      loss.dispose();
      return out;
    },

    async loss() {
      live();
      const l = await onBackend(() => tf.tidy(forwardLoss));
      const out = (await l.data())[0];
      l.dispose();
      return out;
    },

    async grads() {
      live();
      const gs = await onBackend(() =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(forwardLoss, params);
          value.dispose();
          return params.map((pv) => grads[pv.name]);
        }),
      );
      try {
        return await read(gs);
      } finally {
        tf.dispose(gs);
      }
    },

    async params() {
      live();
      // reads are routed to each tensor's own backend; switching is only for uniformity
      await onBackend(() => undefined);
      return read(params);
    },

    async optimizerState() {
      live();
      await onBackend(() => undefined);
      return { m: await read(ms), v: await read(vs), t };
    },

    dispose() {
      if (disposed) return;
      disposed = true;
      // disposing does not need the backend to be current: each tensor knows its own backend
      tf.dispose([x, tt, W0, b0, ...params, ...ms, ...vs]);
    },
  };
}
