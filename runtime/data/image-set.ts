// Fashion-MNIST's classes, and decoded IDX arrays checked and turned into an image set (pixels in
// [0, 1]). Browser-safe: fashion-mnist.ts reads the files in Node, the playground fetches them.
import { IdxError, type IdxArray } from './idx-format.ts';

export const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface ImageSet {
  /** [n, 784] pixels scaled to [0, 1]. */
  images: Float32Array;
  labels: Uint8Array;
  n: number;
}

/** `where` names the source in errors. */
export function imageSet(images: IdxArray, labels: IdxArray, where: string): ImageSet {
  const n = images.shape[0];
  if (images.shape.length !== 3 || images.shape[1] * images.shape[2] !== 784) throw new IdxError(`${where}: images are [${images.shape}], expected [n, 28, 28]`);
  if (labels.shape[0] !== n) throw new IdxError(`${where}: ${n} images but ${labels.shape[0]} labels`);
  if (labels.data.some((l) => l > 9)) throw new IdxError(`${where}: a label is outside 0..9`);
  return { images: Float32Array.from(images.data, (p) => p / 255), labels: labels.data, n };
}
