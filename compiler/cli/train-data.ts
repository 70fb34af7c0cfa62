// lily train's real data: --data FILE|DIR (or the embedded fashion-mnist), --val FILE or
// --val-split, --label, --swap-classes; shuffled batches per epoch; evaluation over every example.
import { existsSync } from 'node:fs';
import { fail } from '../diagnostics.ts';
import { batches, DataError, encode, splitValidation, type Dataset } from '../../runtime/data/dataset.ts';
import { readDataset } from '../../runtime/data/read-dataset.ts';
import { DEBIAN_DIR, EMBEDDED_DIR } from '../../runtime/data/fashion-mnist.ts';
import { evaluateAll, type SizedTrainer } from '../../runtime/trainer/sized.ts';
import type { Trainer } from '../../runtime/train.ts';

export interface DataFlags {
  data: string;
  val?: string;
  valSplit?: string;
  label?: string;
  swapClasses?: string;
}

/** Names of data sets that ship with Lily (besides the synthetic `teacher`), and Debian's full Fashion-MNIST. */
export const BUILTIN_DATA: Record<string, string> = { 'fashion-mnist': EMBEDDED_DIR, 'fashion-mnist-full': DEBIAN_DIR };

/** Where a --data name or path is read from; a missing Debian set says which package holds it. */
function dataPath(name: string): string {
  const path = BUILTIN_DATA[name] ?? name;
  if (path === DEBIAN_DIR && !existsSync(path)) fail('E-data', `--data ${name}: ${path} not found (apt-get install dataset-fashion-mnist)`);
  return path;
}

/**
 * One split of a labelled data set, read as lily train reads it (readDataset: CSV/TSV, JSON Lines,
 * safetensors, .npz, npy and IDX folders): 'test' is the source's own test split where it has one
 * (IDX t10k/test files), else every row; 'train' its training rows.
 */
export function readSplit(name: string, split: 'train' | 'test', label?: string): Dataset {
  const files = userError(() => readDataset(dataPath(name), { label }));
  return split === 'test' ? (files.test ?? files.train) : files.train;
}

export interface RealData {
  train: Dataset;
  val?: Dataset;
  /** Training batches of `size` rows, reshuffled each epoch from the seed (the last one of an epoch smaller). */
  batches: ReturnType<typeof batches>;
  evaluate(trainer: SizedTrainer): Promise<{ accuracy: number; loss: number }>;
  describe: string;
}

const userError = <T>(what: () => T): T => {
  try {
    return what();
  } catch (e) {
    if (e instanceof DataError) fail('E-data', e.message);
    throw e;
  }
};

export function loadData(o: DataFlags, size: number, seed: number): RealData {
  if (o.val && o.valSplit) fail('E-usage', 'give --val FILE or --val-split FRACTION, not both');
  const files = userError(() => readDataset(dataPath(o.data), { label: o.label }));
  let train = files.train;
  let val = files.test;
  if (o.val) {
    val = userError(() => readDataset(o.val!, { label: o.label }).train);
    if (val.features !== train.features) fail('E-data', `${o.val} has ${val.features} features per row, ${o.data} has ${train.features}`);
  } else if (o.valSplit !== undefined) {
    ({ train, val } = userError(() => splitValidation(files.train, Number(o.valSplit), seed)));
  }
  const swap = parseSwap(o.swapClasses);
  if (swap) for (const set of [train, val]) if (set) set.labels = set.labels.map((l) => (l === swap[0] ? swap[1] : l === swap[1] ? swap[0] : l));
  const b = batches(train, size, seed);
  const evalSet = val;
  return {
    train,
    val,
    batches: b,
    evaluate: async (trainer) => {
      if (!evalSet) return { accuracy: NaN, loss: NaN };
      return evaluateAll(trainer, evalSet, (from, to) => ({ ...encode(evalSet, Array.from({ length: to - from }, (_, i) => from + i)), rows: to - from }), size);
    },
    describe: `${train.source}: ${train.n} training rows${val ? `, ${val.n} for evaluation` : ''}, ${train.features} features, ${train.classes} classes`,
  };
}

/** The model must map [rows, features] to [rows, ≥ classes]. */
export function checkModelFits(trainer: Trainer, data: RealData, entry: string) {
  const xShape = trainer.program.leaves.get('x')!.shape;
  const yShape = trainer.program.graph.shape(trainer.program.graph.outputs.get('y')!);
  const classes = Math.max(data.train.classes, data.val?.classes ?? 0);
  if (xShape.length !== 2 || xShape[1] !== data.train.features || yShape.length !== 2 || yShape[1] < classes)
    fail('E-usage', `${entry} maps [${xShape}] to [${yShape}], but the data needs [rows, ${data.train.features}] to [rows, ${classes}] (set the sizes with --dims)`);
}

function parseSwap(text?: string): [number, number] | undefined {
  if (!text) return undefined;
  const m = /^(\d+),(\d+)$/.exec(text);
  if (!m || m[1] === m[2]) fail('E-usage', `--swap-classes takes two different class numbers, as in 0,6; found '${text}'`);
  return [Number(m[1]), Number(m[2])];
}
