// lily eval reads data with lily train's loader (readDataset): every format train reads, the same
// rows and labels. The oracle: the iris CSV parsed here by hand, written as safetensors, gives the
// same loss and accuracy as the CSV itself; split names and data errors are messages.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../runtime/checkpoint/safetensors-codec.ts';
import { lily } from './run-in-process.ts';

const tmp = mkdtempSync(join(tmpdir(), 'lily-eval-'));

describe('lily eval reads what lily train reads', () => {
  it('a CSV (named classes) and the same rows as safetensors give one loss and accuracy', async () => {
    const [, ...rows] = readFileSync('examples/data/iris.csv', 'utf8').trim().split('\n').map((l) => l.split(','));
    const species = [...new Set(rows.map((r) => r[4]))].sort();
    const file = join(tmp, 'iris.safetensors');
    writeFileSync(file, encodeSafetensors(new Map([
      ['x', { shape: [rows.length, 4], data: Float32Array.from(rows.flatMap((r) => r.slice(0, 4).map(Number))) }],
      ['y', { shape: [rows.length], data: Float32Array.from(rows, (r) => species.indexOf(r[4])) }],
    ])));
    const csv = await lily('eval', 'examples/iris.lily', '--model', 'Iris', '--data', 'examples/data/iris.csv', '--batch', '64', '--json');
    const st = await lily('eval', 'examples/iris.lily', '--model', 'Iris', '--data', file, '--batch', '64', '--json');
    expect(csv.code).toBe(0);
    expect(st.code).toBe(0);
    const [a, b] = [JSON.parse(csv.out), JSON.parse(st.out)];
    expect(a.examples).toBe(150);
    expect(a.loss).toBeGreaterThan(0);
    expect({ ...a, data: '' }).toEqual({ ...b, data: '' });
  });

  it('bad data and a bad split are messages (exit 1), not crashes', async () => {
    const bad = join(tmp, 'bad.csv');
    writeFileSync(bad, 'a,b,label\n1,2,x\n3\n');
    const r = await lily('eval', 'examples/iris.lily', '--model', 'Iris', '--data', bad);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.csv:\d/);
    const s = await lily('eval', 'examples/iris.lily', '--model', 'Iris', '--data', 'examples/data/iris.csv', '--split', 'val');
    expect(s.code).toBe(1);
    expect(s.err).toMatch(/--split must be test or train/);
  });
});
