// One training run of `lily compare`: a method on a task at one learning rate and seed — the same
// schedule for every method (AdamW at a constant rate, the same batches in the same order for a
// seed) — then accuracy on held-out images, and the trained values for the ΔW analysis.
import { compileTraining } from '../../../runtime/train.ts';
import type { Backend } from '../../../runtime/executable.ts';
import type { ImageSet } from '../../../runtime/data/fashion-mnist.ts';
import type { PreparedMethod } from './methods.ts';
import { shuffled } from './tasks.ts';
import { emptyRecord, type ModuleRecord } from '../../interp/targets.ts';

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

export async function trainAndEvaluate(p: PreparedMethod, train: ImageSet, heldOut: ImageSet, s: RunSchedule): Promise<RunResult> {
  const { checked, entry, settings } = p.setup;
  const N = s.batch;
  const record = emptyRecord();
  const trainer = await compileTraining(checked, entry, {
    dims: { ...settings, N },
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
    for (let b = 0; b < batches; b++) {
      await trainer.exec.set('x', heldOut.images.subarray(b * N * 784, (b + 1) * N * 784));
      await trainer.exec.run();
      const y = await trainer.exec.read('y');
      for (let n = 0; n < N; n++) {
        const row = y.subarray(n * K, n * K + K);
        if (row.indexOf(Math.max(...row)) === heldOut.labels[b * N + n]) right++;
      }
    }
    const params = await trainer.namedParameters();
    const initial = new Map([...trainer.program.leaves].map(([k, v]) => [k, { shape: v.shape, data: v.data as Float64Array }]));
    return { losses, msPerStep, accuracy: right / Math.max(1, batches * N), params, initial, record };
  } finally {
    trainer.dispose();
  }
}
