import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batches, classesOf, DataError, splitValidation } from './dataset.ts';
import { readDataset } from './read-dataset.ts';
import { encodeSafetensors } from '../checkpoint/safetensors.ts';
import { EMBEDDED_DIR } from './fashion-mnist.ts';
import { zipSync } from 'fflate';

/** An .npy file as NumPy writes it (version 1.0, header padded to 64 bytes): float32 or int64 values. */
function npy(descr: '<f4' | '<i8', shape: number[], values: number[]): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const size = descr === '<f4' ? 4 : 8;
  const out = new Uint8Array(10 + header.length + size * values.length);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0]);
  const dv = new DataView(out.buffer);
  dv.setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  values.forEach((v, i) => (size === 4 ? dv.setFloat32(10 + header.length + 4 * i, v, true) : dv.setBigInt64(10 + header.length + 8 * i, BigInt(v), true)));
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'lily-data-'));
const file = (name: string, text: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('reading data sets', () => {
  it('CSV: a header, a named label column anywhere, class names numbered in sorted order', () => {
    const { train } = readDataset(file('a.csv', 'w,label,h\n1,b,2\n3,a,4\n\n5,b,6\n'));
    expect(train.n).toBe(3);
    expect(train.features).toBe(2);
    expect([...train.x]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...train.labels]).toEqual([1, 0, 1]);
    expect(train.classNames).toEqual(['a', 'b']);
    // No header: the last column is the label; --label picks another by index.
    const plain = readDataset(file('b.csv', '0,1.5,2\n1,2.5,0\n'), { label: '0' }).train;
    expect([...plain.labels]).toEqual([0, 1]);
    expect([...plain.x]).toEqual([1.5, 2, 2.5, 0]);
  });

  it('CSV: a malformed row is an error naming the file and line', () => {
    const bad = file('bad.csv', 'a,b,label\n1,2,0\n1,x,1\n');
    expect(() => readDataset(bad)).toThrow(new DataError(`${bad}:3: column 'b' is "x", not a number`));
    const short = file('short.csv', 'a,b,label\n1,2,0\n1,1\n');
    expect(() => readDataset(short)).toThrow(new RegExp(`${short}:3: Invalid Record Length: expect 3, got 2`));
    expect(() => readDataset(file('nolabel.csv', 'a,b\n1,2\n'), { label: 'c' })).toThrow(/no column 'c' \(columns: a, b\)/);
    const empty = file('emptylabel.csv', 'a,label\n1,x\n2,\n');
    expect(() => readDataset(empty)).toThrow(new RegExp(`${empty}:3: the label is empty`));
  });

  it('JSON Lines, with line numbers for bad rows', () => {
    const ok = readDataset(file('a.jsonl', '{"x": [1, 2], "y": 1}\n\n{"x": [3, 4], "label": 0}\n')).train;
    expect([...ok.labels]).toEqual([1, 0]);
    const bad = file('bad.jsonl', '{"x": [1, 2], "y": 1}\n{"x": [3], "y": 0}\n');
    expect(() => readDataset(bad)).toThrow(new RegExp(`${bad}:2: 1 features, the first row has 2`));
    expect(() => readDataset(file('c.jsonl', '{"x": [1], "y": 1}\n{oops\n'))).toThrow(/c.jsonl:2: not JSON/);
  });

  it('safetensors with x and y; IDX folders with their test split', () => {
    const st = file('d.safetensors', encodeSafetensors(new Map([['x', { shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) }], ['y', { shape: [2], data: Float32Array.of(2, 0) }]])));
    const d = readDataset(st).train;
    expect([d.n, d.features, d.classes, ...d.labels]).toEqual([2, 3, 3, 2, 0]);
    expect(() => readDataset(file('e.safetensors', encodeSafetensors(new Map([['x', { shape: [2], data: Float32Array.of(1, 2) }]]))))).toThrow(/needs arrays 'x'/);
    const idx = readDataset(EMBEDDED_DIR);
    expect([idx.train.n, idx.train.features, idx.test?.n, idx.train.classes]).toEqual([1000, 784, 300, 10]);
    expect(() => readDataset(file('f.txt', 'x'))).toThrow(/not a data set Lily reads/);
  });

  it('NumPy: an .npz with x and y, or a folder with x.npy and y.npy', () => {
    const x = npy('<f4', [3, 2], [1, 2, 3, 4, 5, 6]);
    const y = npy('<i8', [3], [0, 2, 1]);
    const z = readDataset(file('a.npz', zipSync({ 'x.npy': x, 'y.npy': y }))).train;
    expect([z.n, z.features, z.classes, ...z.labels, ...z.x]).toEqual([3, 2, 3, 0, 2, 1, 1, 2, 3, 4, 5, 6]);
    const folder = join(dir, 'npy');
    mkdirSync(folder);
    writeFileSync(join(folder, 'x.npy'), x);
    writeFileSync(join(folder, 'y.npy'), y);
    expect([...readDataset(folder).train.labels]).toEqual([0, 2, 1]);
    expect(() => readDataset(file('b.npz', zipSync({ 'x.npy': x })))).toThrow(/needs arrays 'x' \[n, …\] and 'y' \[n\].*found x.npy/);
    expect(() => readDataset(file('c.npz', 'not a zip'))).toThrow(/not a valid .npz/);
  });

  it('batches: every row once per epoch, the last batch partial, reshuffled each epoch, the same for the same seed', () => {
    const { train } = readDataset(file('g.csv', Array.from({ length: 10 }, (_, i) => `${i},${i % 2}`).join('\n')));
    const b = batches(train, 4, 7);
    expect(b.perEpoch).toBe(3);
    const epoch = (e: number) => [0, 1, 2].flatMap((j) => [...b.batch(e * 3 + j).x]);
    expect([0, 1, 2].map((j) => b.batch(j).rows)).toEqual([4, 4, 2]);
    expect([...epoch(0)].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(epoch(1)).not.toEqual(epoch(0));
    expect([...batches(train, 4, 7).batch(4).x]).toEqual([...b.batch(4).x]);
    const { train: t2, val } = splitValidation(train, 0.2, 3);
    expect([t2.n, val.n]).toEqual([8, 2]);
    expect([...t2.x, ...val.x].sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(() => splitValidation(train, 1.5, 3)).toThrow(/between 0 and 1/);
  });
});

describe('class numbers of large data sets', () => {
  it('counts the classes of 300,000 integer labels (Math.max(...labels) overflowed the stack)', () => {
    const raw = Array.from({ length: 300_000 }, (_, i) => String(i % 7));
    expect(classesOf(raw, (i) => `row ${i}`).classes).toBe(7);
  });
});
