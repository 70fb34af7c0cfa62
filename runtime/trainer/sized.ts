// One trainer that serves several batch sizes. A plan is compiled for one size, so a last partial
// batch, or evaluating every example, uses a plan compiled for that size (kept in a cache); the
// trainable state (parameters, optimiser moments, step count) moves to whichever plan runs next.
// Frozen weights are the same in each: every plan is compiled from the same program and seed.
import type { Trainer } from '../train.ts';
import { countCorrect } from '../tensor/reduce.ts';

export interface Batch {
  x: Float32Array;
  t: Float32Array;
  /** Rows in this batch (default: the main size). */
  rows?: number;
}

export interface SizedTrainer {
  readonly main: Trainer;
  readonly steps: number;
  step(batch: Batch): Promise<number>;
  evaluate(batch: Batch): Promise<number>;
  trainState: Trainer['trainState'];
  restore: Trainer['restore'];
  /** An output of the plan that ran last (e.g. 'grad_norm' after a step). */
  read(name: string): Promise<Float32Array>;
  /** Outputs 'y' and the mean loss of the current parameters on a batch (nothing is updated). */
  predict(batch: Batch): Promise<{ y: Float32Array; loss: number }>;
  /** How many plans were compiled (one per batch size seen). */
  readonly sizes: number[];
  dispose(): void;
}

export async function sizedTrainer(compileAt: (rows: number) => Promise<Trainer>, size: number): Promise<SizedTrainer> {
  const main = await compileAt(size);
  const cache = new Map<number, Trainer>([[size, main]]);
  let active = main;
  const at = async (rows = size): Promise<Trainer> => {
    if (cache.get(rows) === active) return active;
    let t = cache.get(rows);
    if (!t) cache.set(rows, (t = await compileAt(rows)));
    await t.restore(await active.trainState(), active.steps);
    return (active = t);
  };
  return {
    main,
    get steps() {
      return active.steps;
    },
    get sizes() {
      return [...cache.keys()];
    },
    step: async (b) => (await at(b.rows)).step(b),
    evaluate: async (b) => (await at(b.rows)).evaluate(b),
    trainState: () => active.trainState(),
    read: (name) => active.read(name),
    async restore(state, steps) {
      await main.restore(state, steps);
      active = main;
    },
    async predict(b) {
      const t = await at(b.rows);
      const loss = await t.evaluate(b);
      return { y: await t.read('y'), loss };
    },
    dispose: () => cache.forEach((t) => t.dispose()),
  };
}

/** Accuracy and mean loss over every example of a set, in batches of `size` (the last one smaller). */
export async function evaluateAll(trainer: SizedTrainer, set: { n: number; classes: number; labels: Int32Array }, rowsOf: (from: number, to: number) => Batch, size: number) {
  let right = 0;
  let lossSum = 0;
  for (let from = 0; from < set.n; from += size) {
    const to = Math.min(set.n, from + size);
    const { y, loss } = await trainer.predict(rowsOf(from, to));
    lossSum += loss * (to - from);
    right += countCorrect(y, y.length / (to - from), set.labels, from);
  }
  return { accuracy: right / set.n, loss: lossSum / set.n };
}
