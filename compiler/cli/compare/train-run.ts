// One training run of `lily compare`: a method on a task at one learning rate and seed — the same
// schedule for every method (AdamW at a constant rate, the same batches in the same order for a
// seed) — then accuracy on held-out images, and the trained values for the ΔW analysis.
import { compileTraining, prepareForward, type Trainer } from '../../../runtime/train.ts';
import { compile } from '../../pipeline.ts';
import type { Backend } from '../../../runtime/executable.ts';
import type { ImageSet } from '../../../runtime/data/fashion-mnist.ts';
import type { PreparedMethod } from './methods.ts';
import { shuffled } from './tasks.ts';
import { emptyRecord, type ModuleRecord } from '../../interp/targets.ts';
import { countCorrect } from '../../../runtime/tensor/reduce.ts';

export interface RunSchedule {
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  backend: Backend;
}

export interface RunResult {
  losses: number[];
  /** Median wall time of a step (after the first, which warms up), in ms. */
  msPerStep: number;
  accuracy: number;
  /** Trained parameters by leaf path. */
  params: Map<string, { shape: number[]; data: Float32Array }>;
  /** Frozen or initial values by leaf path (the base weights, for ΔW of full fine-tuning). */
  initial: Map<string, { shape: number[]; data: Float64Array }>;
  /** The adapted layers and base weights of the compiled program. */
  record: ModuleRecord;
}

/** One method's compiled training step, reused for every learning rate, seed and task (only values change between runs). */
export interface MethodRunner {
  run(train: ImageSet, heldOut: ImageSet, s: RunSchedule): Promise<RunResult>;
  dispose(): void;
}

/**
 * Compile a method's training step once (a batch of `batch` images). The learning rate is a runtime
 * input of the step (the schedule's factor times a base rate of 1); a seed's initial parameters come
 * from lowering the program alone, and the optimiser's moments and step count start from zero, so a
 * run equals one on a freshly compiled trainer (a test holds them to the same losses).
 */
export async function prepareRunner(p: PreparedMethod, batch: number, backend: Backend): Promise<MethodRunner> {
  const { checked, entry, settings, given } = p.setup;
  const dims = { ...settings, N: batch };
  const record = emptyRecord();
  let lr = 1;
  const trainer = await compileTraining(checked, entry, {
    dims,
    backend,
    optimizer: { kind: 'adamw', lr: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    schedule: () => lr,
    seed: 0,
    given,
    attach: p.attach,
    trainable: p.trainable,
    loss: 'xent',
    keep: ['y'],
    record,
  });
  const forward = await forwardScorer(p, dims, backend);
  const names = [...(await trainer.trainState())].map(([name, v]) => [name, v.shape] as const);
  /** The leaves as initialised for a seed. */
  const leavesOf = (seed: number) => (seed === 0 ? trainer.program.leaves : compile(checked, entry, { settings: dims, seed, until: 'lower', params: 'init', given, attach: p.attach, trainable: p.trainable }).leaves);
  /** Parameters as initialised, moments zero. */
  const startOf = (leaves: Leaves) =>
    new Map(
      names.map(([name, shape]) => {
        const moment = /^[mv]:/.test(name);
        const v = moment ? undefined : leaves.get(name);
        if (!moment && !v) throw new Error(`internal: no initial value for '${name}' in the lowered program`);
        return [name, { data: v ? Float32Array.from(v.data) : new Float32Array(shape.reduce((a, b) => a * b, 1)) }];
      }),
    );
  return {
    async run(train, heldOut, s) {
      if (s.batch !== batch) throw new Error(`internal: runner compiled for batch ${batch}, asked for ${s.batch}`);
      const leaves = leavesOf(s.seed);
      await trainer.restore(startOf(leaves), 0);
      lr = s.lr;
      return runSteps(trainer, record, leaves, train, heldOut, s, forward.score);
    },
    dispose: () => {
      trainer.dispose();
      forward.dispose();
    },
  };
}

/** One run on a freshly compiled trainer, scored with the training plan (the reference the reused runner is held to). */
export async function trainAndEvaluate(p: PreparedMethod, train: ImageSet, heldOut: ImageSet, s: RunSchedule): Promise<RunResult> {
  const { checked, entry, settings } = p.setup;
  const record = emptyRecord();
  const trainer = await compileTraining(checked, entry, {
    dims: { ...settings, N: s.batch },
    backend: s.backend,
    optimizer: { kind: 'adamw', lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    seed: s.seed,
    given: p.setup.given,
    attach: p.attach,
    trainable: p.trainable,
    loss: 'xent',
    keep: ['y'],
    record,
  });
  try {
    return await runSteps(trainer, record, trainer.program.leaves, train, heldOut, s, trainingPlanScorer(trainer));
  } finally {
    trainer.dispose();
  }
}

type Leaves = Map<string, { shape: number[]; data: ArrayLike<number> }>;

/** Given the trained parameters, a function from a batch of images to the model's outputs y. */
type Scorer = (params: Map<string, Float32Array>) => Promise<(x: Float32Array) => Promise<Float32Array>>;

/** Scoring with the training plan itself: x in, a whole step's work (forward, backward, updates computed but not applied), y out. */
const trainingPlanScorer =
  (trainer: Trainer): Scorer =>
  async () =>
  async (x) => {
    await trainer.exec.set('x', x);
    await trainer.exec.run();
    return trainer.exec.read('y');
  };

/**
 * Scoring with the forward pass alone, compiled once for evaluation (the same batch size, so Lily's
 * router averages over the same rows): a held-out batch costs a forward, not a training step.
 */
async function forwardScorer(p: PreparedMethod, dims: Record<string, number | boolean>, backend: Backend): Promise<{ score: Scorer; dispose(): void }> {
  const { checked, entry, given } = p.setup;
  const { exec, plan } = await prepareForward(checked, entry, { settings: dims, seed: 0, params: 'init', given, attach: p.attach, trainable: p.trainable }, backend);
  return {
    score: async (params) => {
      for (const [name, v] of params) if (plan.leaves.has(name)) await exec.set(name, v);
      return async (x) => {
        await exec.set('x', x);
        await exec.run();
        return exec.read('y');
      };
    },
    dispose: () => exec.dispose(),
  };
}

/** Train from the trainer's current state, then score the held-out images; `start`: the values the run started from. */
async function runSteps(trainer: Trainer, record: ModuleRecord, start: Leaves, train: ImageSet, heldOut: ImageSet, s: RunSchedule, scorer: Scorer): Promise<RunResult> {
  const N = s.batch;
  {
    const K = trainer.program.graph.shape(trainer.program.graph.outputs.get('y')!)[1];
    // Batches: epochs over a seeded shuffle of the training images, the same for every method.
    let order: number[] = [];
    const batch = (i: number) => {
      const x = new Float32Array(N * 784);
      const t = new Float32Array(N * K);
      for (let n = 0; n < N; n++) {
        const at = i * N + n;
        const epoch = Math.floor(at / train.n);
        if (at % train.n === 0 || !order.length) order = shuffled(train.n, s.seed * 1000 + epoch);
        const j = order[at % train.n];
        x.set(train.images.subarray(j * 784, (j + 1) * 784), n * 784);
        t[n * K + train.labels[j]] = 1;
      }
      return { x, t };
    };
    const losses: number[] = [];
    const times: number[] = [];
    for (let i = 0; i < s.steps; i++) {
      const b = batch(i);
      const t0 = performance.now();
      losses.push(await trainer.step(b));
      times.push(performance.now() - t0);
    }
    const sorted = times.slice(1).sort((a, b) => a - b);
    const msPerStep = sorted.length ? sorted[sorted.length >> 1] : times[0];
    // Accuracy over whole batches of the held-out images (the plan is compiled for N rows; Lily's
    // router averages over each batch's rows, as it does in training).
    let right = 0;
    const batches = Math.floor(heldOut.n / N);
    const scoreBatch = await scorer(await trainer.parameters());
    for (let b = 0; b < batches; b++) {
      const y = await scoreBatch(heldOut.images.subarray(b * N * 784, (b + 1) * N * 784));
      right += countCorrect(y, K, heldOut.labels, b * N);
    }
    const params = await trainer.namedParameters();
    const initial = new Map([...start].map(([k, v]) => [k, { shape: v.shape, data: Float64Array.from(v.data) }]));
    return { losses, msPerStep, accuracy: right / Math.max(1, batches * N), params, initial, record };
  }
}
