// Fashion-MNIST (Zalando, MIT licence): 28×28 grey images of 10 kinds of clothing. A subset ships
// with Lily (examples/data/fashion-mnist/, made by `npx tsx runtime/data/make-fashion-subset.ts`
// from Debian's dataset-fashion-mnist); the full set is read from Debian's files if installed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IdxError, loadIdx } from './idx.ts';
import { imageSet, type ImageSet } from './image-set.ts';
import { packagePath } from '../package-path.ts';

export { CLASSES, type ImageSet } from './image-set.ts';
export const EMBEDDED_DIR = packagePath('examples/data/fashion-mnist/', import.meta.url);
export const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

/** One split of a folder in Fashion-MNIST's IDX layout (the VTAB-1K-style tasks in examples/data use it too). */
export function loadImageSplit(dir: string, split: 'train' | 't10k'): ImageSet {
  return imageSet(loadIdx(join(dir, `${split}-images-idx3-ubyte.gz`)), loadIdx(join(dir, `${split}-labels-idx1-ubyte.gz`)), dir);
}

/** The embedded subset (default) or the full set from Debian's package. */
export function fashionMnist(which: 'embedded' | 'full' = 'embedded'): { train: ImageSet; test: ImageSet; source: string } {
  const dir = which === 'full' ? DEBIAN_DIR : EMBEDDED_DIR;
  if (!existsSync(dir)) throw new IdxError(which === 'full' ? `${dir} not found: apt-get install dataset-fashion-mnist` : `${dir} not found`);
  return { train: loadImageSplit(dir, 'train'), test: loadImageSplit(dir, 't10k'), source: dir };
}
