// Fashion-MNIST (Zalando, MIT licence): 28×28 grey images of 10 kinds of clothing. A subset ships
// with Lily (examples/data/fashion-mnist/, made by `npx tsx runtime/data/make-fashion-subset.ts`
// from Debian's dataset-fashion-mnist); the full set is read from Debian's files if installed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IdxError, loadIdx } from './idx.ts';
import { packagePath } from '../package-path.ts';

export const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const EMBEDDED_DIR = packagePath('examples/data/fashion-mnist/', import.meta.url);
export const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

export interface ImageSet {
  /** [n, 784] pixels scaled to [0, 1]. */
  images: Float32Array;
  labels: Uint8Array;
  n: number;
}

function load(dir: string, split: 'train' | 't10k'): ImageSet {
  const images = loadIdx(join(dir, `${split}-images-idx3-ubyte.gz`));
  const labels = loadIdx(join(dir, `${split}-labels-idx1-ubyte.gz`));
  const n = images.shape[0];
  if (images.shape.length !== 3 || images.shape[1] * images.shape[2] !== 784) throw new IdxError(`${dir}: images are [${images.shape}], expected [n, 28, 28]`);
  if (labels.shape[0] !== n) throw new IdxError(`${dir}: ${n} images but ${labels.shape[0]} labels`);
  if (labels.data.some((l) => l > 9)) throw new IdxError(`${dir}: a label is outside 0..9`);
  return { images: Float32Array.from(images.data, (p) => p / 255), labels: labels.data, n };
}

/** The embedded subset (default) or the full set from Debian's package. */
export function fashionMnist(which: 'embedded' | 'full' = 'embedded'): { train: ImageSet; test: ImageSet; source: string } {
  const dir = which === 'full' ? DEBIAN_DIR : EMBEDDED_DIR;
  if (!existsSync(dir)) throw new IdxError(which === 'full' ? `${dir} not found: apt-get install dataset-fashion-mnist` : `${dir} not found`);
  return { train: load(dir, 'train'), test: load(dir, 't10k'), source: dir };
}
