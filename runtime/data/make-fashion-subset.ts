// Makes the embedded Fashion-MNIST subset from Debian's dataset-fashion-mnist: the first TRAIN
// training images and TEST test images (the set is already shuffled, so classes are balanced).
//   apt-get install dataset-fashion-mnist && npx tsx runtime/data/make-fashion-subset.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DEBIAN_DIR, EMBEDDED_DIR } from './fashion-mnist.ts';
import { encodeIdx, loadIdx } from './idx.ts';

const TRAIN = 1000;
const TEST = 300;
mkdirSync(EMBEDDED_DIR, { recursive: true });
for (const [split, n] of [['train', TRAIN], ['t10k', TEST]] as const) {
  const images = loadIdx(join(DEBIAN_DIR, `${split}-images-idx3-ubyte.gz`));
  const labels = loadIdx(join(DEBIAN_DIR, `${split}-labels-idx1-ubyte.gz`));
  writeFileSync(join(EMBEDDED_DIR, `${split}-images-idx3-ubyte.gz`), gzipSync(encodeIdx({ shape: [n, 28, 28], data: images.data.subarray(0, n * 784) }), { level: 9 }));
  writeFileSync(join(EMBEDDED_DIR, `${split}-labels-idx1-ubyte.gz`), gzipSync(encodeIdx({ shape: [n], data: labels.data.subarray(0, n) }), { level: 9 }));
}
console.log(`wrote ${TRAIN} training and ${TEST} test images to ${EMBEDDED_DIR}`);
