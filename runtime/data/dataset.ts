// A labelled data set in memory (browser-safe): features [n, F] and class labels, with a seeded
// train/validation split and shuffled batches. Batch i is a pure function of (seed, i), so the data
// position of a run is its step count and a resumed run sees exactly the batches it would have.
import { rng } from '../init/rng.ts';
import { largest } from '../tensor/reduce.ts';

export class DataError extends Error {}

export interface Dataset {
  /** [n, features] row-major. */
  x: Float32Array;
  features: number;
  /** Class of each row, 0-based. */
  labels: Int32Array;
  classes: number;
  n: number;
  /** Where it came from, for messages and the summary. */
  source: string;
  /** Original label names, when the file had names (CSV/JSONL strings). */
  classNames?: string[];
}

export const subset = (d: Dataset, rows: ArrayLike<number>, source = d.source): Dataset => {
  const x = new Float32Array(rows.length * d.features);
  const labels = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    x.set(d.x.subarray(r * d.features, (r + 1) * d.features), i * d.features);
    labels[i] = d.labels[r];
  }
  return { ...d, x, labels, n: rows.length, source };
};

/** A seeded permutation of 0..n-1 (Fisher–Yates). */
export function permutation(n: number, seed: number, label: string): Int32Array {
  const r = rng(seed).fork(label);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** Hold out a fraction of the rows (chosen by the seed) for validation. */
export function splitValidation(d: Dataset, fraction: number, seed: number): { train: Dataset; val: Dataset } {
  if (!(fraction > 0 && fraction < 1)) throw new DataError(`--val-split takes a fraction between 0 and 1, found ${fraction}`);
  const p = permutation(d.n, seed, 'val-split');
  const nVal = Math.round(d.n * fraction);
  if (nVal < 1 || nVal >= d.n) throw new DataError(`--val-split ${fraction} of ${d.n} rows leaves no ${nVal < 1 ? 'validation' : 'training'} rows`);
  return { train: subset(d, p.subarray(nVal)), val: subset(d, p.subarray(0, nVal), `${d.source} (${nVal} rows held out)`) };
}

/**
 * Batches through the training rows, reshuffled each epoch from the seed. An epoch is
 * ceil(n / size) steps: the last batch of an epoch has the remaining rows (it is trained too).
 */
export function batches(d: Dataset, size: number, seed: number) {
  const perEpoch = Math.ceil(d.n / size);
  let cached: { epoch: number; order: Int32Array } | undefined;
  const order = (epoch: number) => (cached?.epoch === epoch ? cached.order : (cached = { epoch, order: permutation(d.n, seed, `epoch:${epoch}`) }).order);
  return {
    perEpoch,
    /** Step i's rows: features, one-hot targets, and the row count. */
    batch(i: number): { x: Float32Array; t: Float32Array; rows: number } {
      const epoch = Math.floor(i / perEpoch);
      const j = i % perEpoch;
      const rows = order(epoch).subarray(j * size, Math.min((j + 1) * size, d.n));
      return { ...encode(d, rows), rows: rows.length };
    },
  };
}

/** Features and one-hot targets of the given rows. */
export function encode(d: Dataset, rows: ArrayLike<number>): { x: Float32Array; t: Float32Array } {
  const s = subset(d, rows);
  const t = new Float32Array(rows.length * d.classes);
  for (let i = 0; i < rows.length; i++) t[i * d.classes + s.labels[i]] = 1;
  return { x: s.x, t };
}

/** Turn label strings into class numbers: integers keep their value, names are numbered in sorted order. */
export function classesOf(raw: string[], where: (i: number) => string): { labels: Int32Array; classes: number; names?: string[] } {
  const integers = raw.every((v) => /^\d+$/.test(v));
  if (integers) {
    const labels = Int32Array.from(raw, Number);
    return { labels, classes: largest(labels) + 1 };
  }
  const names = [...new Set(raw)].sort();
  const index = new Map(names.map((n, i) => [n, i]));
  raw.forEach((v, i) => {
    if (v === '') throw new DataError(`${where(i)}: the label is empty`);
  });
  return { labels: Int32Array.from(raw, (v) => index.get(v)!), classes: names.length, names };
}
