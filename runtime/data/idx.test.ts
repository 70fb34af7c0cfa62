import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeIdx, encodeIdx, IdxError } from './idx.ts';
import { CLASSES, fashionMnist } from './fashion-mnist.ts';

describe('IDX files and the embedded Fashion-MNIST subset', () => {
  it('round-trips, gzipped or not', () => {
    const a = { shape: [2, 3], data: Uint8Array.of(1, 2, 3, 4, 5, 6) };
    for (const bytes of [encodeIdx(a), gzipSync(encodeIdx(a))]) {
      const back = decodeIdx(bytes);
      expect(back.shape).toEqual([2, 3]);
      expect([...back.data]).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it('rejects corrupt files with a clear message', () => {
    const good = encodeIdx({ shape: [4], data: Uint8Array.of(1, 2, 3, 4) });
    expect(() => decodeIdx(good.subarray(0, good.length - 1), 'f.idx')).toThrow(/need 4 bytes of data, the file has 3/);
    expect(() => decodeIdx(Uint8Array.of(1, 2, 3, 4, 5), 'f.idx')).toThrow(IdxError);
    expect(() => decodeIdx(gzipSync(good).subarray(0, 12), 'f.idx.gz')).toThrow(/gzip data is corrupt/);
  });

  it('the embedded subset loads: 1000 + 300 images in [0, 1], every class present', () => {
    const { train, test } = fashionMnist();
    expect([train.n, test.n]).toEqual([1000, 300]);
    expect(train.images.length).toBe(1000 * 784);
    expect(train.images.every((p) => p >= 0 && p <= 1)).toBe(true);
    const counts = new Array(CLASSES.length).fill(0);
    train.labels.forEach((l) => counts[l]++);
    expect(Math.min(...counts)).toBeGreaterThan(60);
  });
});
