// Training data in the page: the teacher task (an adapter on a frozen layer learns a hidden
// low-rank change) and the embedded Fashion-MNIST subset (a model [N, 784] → [N, 10], cross-entropy,
// test accuracy). The same generators and decoders as `lily train`.
import { gunzipSync } from 'fflate';
import type { Trainer } from '../../runtime/train.ts';
import { teacherTask } from '../../runtime/data/synthetic.ts';
import { decodeIdx } from '../../runtime/data/idx-format.ts';
import { imageSet, type ImageSet } from '../../runtime/data/image-set.ts';
import trainImagesUrl from '../../examples/data/fashion-mnist/train-images-idx3-ubyte.gz?url';
import trainLabelsUrl from '../../examples/data/fashion-mnist/train-labels-idx1-ubyte.gz?url';
import testImagesUrl from '../../examples/data/fashion-mnist/t10k-images-idx3-ubyte.gz?url';
import testLabelsUrl from '../../examples/data/fashion-mnist/t10k-labels-idx1-ubyte.gz?url';

export type DataName = 'teacher' | 'fashion-mnist';

export interface Task {
  batch(i: number): { x: Float32Array; t: Float32Array };
  /** Test accuracy (images only). */
  accuracy?: () => Promise<number>;
  /** What the frozen starting point scores: MSE for the teacher, test accuracy for images. */
  baseline: { label: string; value: number };
}

export class TaskError extends Error {}

export function teacher(trainer: Trainer, N: number, seed: number): Task {
  const W0 = trainer.program.leaves.get('base.W');
  const b0 = trainer.program.leaves.get('base.b');
  if (!W0 || !b0) throw new TaskError('the teacher task trains an adapter on a frozen layer; this program has none (pick an adapter, or Fashion-MNIST for a model)');
  const [In, Out] = W0.shape;
  const t = teacherTask({ N, In, Out, W0: W0.data, b0: b0.data, seed });
  return { batch: t.batch, baseline: { label: 'loss of the frozen layer alone', value: t.baselineLoss } };
}

let fashion: Promise<{ train: ImageSet; test: ImageSet }> | undefined;

async function idx(url: string, name: string) {
  const res = await fetch(url);
  if (!res.ok) throw new TaskError(`cannot fetch ${name}: HTTP ${res.status}`);
  // A server may already have undone the gzip (Content-Encoding): decodeIdx only gunzips gzip bytes.
  return decodeIdx(new Uint8Array(await res.arrayBuffer()), name, (b) => gunzipSync(b));
}

export function fashionMnist(): Promise<{ train: ImageSet; test: ImageSet }> {
  fashion ??= Promise.all([idx(trainImagesUrl, 'train-images'), idx(trainLabelsUrl, 'train-labels'), idx(testImagesUrl, 't10k-images'), idx(testLabelsUrl, 't10k-labels')]).then(([a, b, c, d]) => ({
    train: imageSet(a, b, 'embedded Fashion-MNIST (train)'),
    test: imageSet(c, d, 'embedded Fashion-MNIST (test)'),
  }));
  return fashion;
}

/** Batches in order through the training images (one-hot labels); accuracy over whole test batches. */
export async function images(trainer: Trainer, N: number): Promise<Task> {
  const { train, test } = await fashionMnist();
  const xShape = trainer.program.leaves.get('x')!.shape;
  const y = trainer.program.graph.outputs.get('y');
  const yShape = y === undefined ? [] : trainer.program.graph.shape(y);
  if (xShape.length !== 2 || xShape[1] !== 784 || yShape[1] !== 10) throw new TaskError(`Fashion-MNIST needs a model from [N, 784] to [N, 10]; this one maps [${xShape}] to [${yShape}]`);
  if (N > test.n) throw new TaskError(`batch ${N} is larger than the ${test.n} test images`);
  const batch = (i: number) => {
    const x = new Float32Array(N * 784);
    const t = new Float32Array(N * 10);
    for (let n = 0; n < N; n++) {
      const j = (i * N + n) % train.n;
      x.set(train.images.subarray(j * 784, (j + 1) * 784), n * 784);
      t[n * 10 + train.labels[j]] = 1;
    }
    return { x, t };
  };
  const accuracy = async () => {
    let right = 0;
    const batches = Math.floor(test.n / N);
    for (let b = 0; b < batches; b++) {
      await trainer.exec.set('x', test.images.subarray(b * N * 784, (b + 1) * N * 784));
      await trainer.exec.run();
      const out = await trainer.exec.read('y');
      for (let n = 0; n < N; n++) {
        const row = out.subarray(n * 10, n * 10 + 10);
        if (row.indexOf(Math.max(...row)) === test.labels[b * N + n]) right++;
      }
    }
    return right / (batches * N);
  };
  return { batch, accuracy, baseline: { label: 'test accuracy before training', value: await accuracy() } };
}
