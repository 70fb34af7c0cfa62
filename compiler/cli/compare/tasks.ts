// The image tasks `lily compare` trains on: a name from examples/data (digits-1k, rotation-1k,
// fashion-mnist) or any folder in Fashion-MNIST's IDX layout; the training images split, by a
// seeded shuffle, into a part to train on and a part to choose the learning rate on (VTAB-1K's
// 800/200 protocol), the test images kept for the final figures only.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../diagnostics.ts';
import { IdxError } from '../../../runtime/data/idx.ts';
import { loadImageSplit, type ImageSet } from '../../../runtime/data/fashion-mnist.ts';
import { rng } from '../../../runtime/init/rng.ts';
import { packagePath } from '../../../runtime/package-path.ts';

export const TASK_DIR = packagePath('examples/data/', import.meta.url);

export interface Task {
  name: string;
  source: string;
  train: ImageSet;
  test: ImageSet;
}

export function loadTask(name: string): Task {
  const dir = existsSync(join(TASK_DIR, name)) ? join(TASK_DIR, name) : name;
  if (!existsSync(dir)) fail('E-usage', `--task ${name}: no such task or folder`, undefined, { notes: ['shipped tasks: digits-1k, rotation-1k, fashion-mnist (examples/data); or a folder with train-/t10k-images-idx3-ubyte.gz and -labels-idx1-ubyte.gz'] });
  try {
    return { name: name.split('/').filter(Boolean).at(-1)!, source: dir, train: loadImageSplit(dir, 'train'), test: loadImageSplit(dir, 't10k') };
  } catch (e) {
    if (e instanceof IdxError) fail('E-file', e.message);
    throw e;
  }
}

const pick = (set: ImageSet, rows: number[]): ImageSet => {
  const images = new Float32Array(rows.length * 784);
  rows.forEach((r, i) => images.set(set.images.subarray(r * 784, (r + 1) * 784), i * 784));
  return { images, labels: Uint8Array.from(rows, (r) => set.labels[r]), n: rows.length };
};

/** A seeded shuffle of the training images split into (train, validation). */
export function validationSplit(set: ImageSet, fraction: number, seed: number): { train: ImageSet; val: ImageSet } {
  const order = shuffled(set.n, seed);
  const nVal = Math.round(set.n * fraction);
  return { train: pick(set, order.slice(nVal)), val: pick(set, order.slice(0, nVal)) };
}

/** 0..n-1 in a seeded random order (Fisher–Yates). */
export function shuffled(n: number, seed: number): number[] {
  const r = rng(seed).fork('shuffle');
  const order = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
