// lily train on real data, in process: the CSV example with a held-out split, a log and a plot;
// every example evaluated; what the user sees; flags that are errors.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lily } from './run-in-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'lily-data-cli-'));

describe('lily train --data', () => {
  it('the iris CSV example: --val-split 0.2 --plot --log; every held-out row evaluated; lily plot redraws it', async () => {
    const log = join(dir, 'run.jsonl');
    const plot = join(dir, 'loss.svg');
    const r = await lily('train', 'examples/iris.lily', '--adapter', 'Iris', '--data', 'examples/data/iris.csv', '--val-split', '0.2', '--epochs', '30', '--batch', '16', '--backend', 'cpu', '--plot', plot, '--log', log, '--json');
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.evaluation.after.accuracy).toBeGreaterThan(0.85);
    expect(s.evaluation.before.accuracy).toBeLessThan(0.6);
    expect(s.steps).toBe(30 * 8); // 120 training rows in batches of 16: 7 full and one of 8
    // The last partial training batch (8 rows) and the last evaluation batch (30 = 16 + 14) ran too.
    expect([...s.batchSizesCompiled].sort((a: number, b: number) => a - b)).toEqual([8, 14, 16]);
    expect(s.loss.lastTenthMean).toBeLessThan(s.loss.firstTenthMean / 3);
    const records = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = records.filter((x) => 'loss' in x);
    expect(steps).toHaveLength(240);
    expect(Object.keys(steps[0]).sort()).toEqual(['grad_norm', 'loss', 'lr', 'step', 'time']);
    expect(records.filter((x) => 'eval_accuracy' in x).length).toBe(31); // before training, then after each epoch
    const svg = readFileSync(plot, 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('evaluation loss');
    const again = join(dir, 'again.svg');
    expect((await lily('plot', log, '-o', again)).code).toBe(0);
    expect(readFileSync(again, 'utf8')).toContain('train loss');
  });

  it('the summary before step 1 names the program, sizes, counts, optimiser, data and backend', async () => {
    const r = await lily('train', 'examples/iris.lily', '--adapter', 'Iris', '--data', 'examples/data/iris.csv', '--val-split', '0.2', '--steps', '2', '--backend', 'cpu');
    expect(r.code).toBe(0);
    expect(r.err).toContain('training Iris (examples/iris.lily) on cpu');
    expect(r.err).toContain('sizes: N=64 (batch axis N)');
    expect(r.err).toMatch(/parameters: 131 trainable, 0 frozen/);
    expect(r.err).toMatch(/optimiser: adamw lr 0.01 weight decay 0.01, constant schedule; 2 steps of 64 rows/);
    expect(r.err).toMatch(/examples\/data\/iris.csv: 120 training rows, 30 for evaluation, 4 features, 3 classes/);
  });

  it('the batch axis is whatever the model input calls it', async () => {
    const f = join(dir, 'b.lily');
    writeFileSync(f, 'model M(D: Dim = 4, K: Dim = 3) {\n  layer fc: Linear[D, K]\n  forward(x: [Rows, D]) -> [Rows, K] = fc(x)\n}\n');
    const r = await lily('train', f, '--adapter', 'M', '--data', 'examples/data/iris.csv', '--steps', '3', '--batch', '10', '--backend', 'cpu');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('sizes: Rows=10 (batch axis Rows)');
  });

  it('bad data and flags: a malformed row names its line; unknown --dims names get a suggestion; defaults do not move', async () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'a,b,c,d,label\n1,2,3,4,x\n1,2,three,4,y\n');
    const r = await lily('train', 'examples/iris.lily', '--adapter', 'Iris', '--data', bad, '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad}:3: column 'c' is "three", not a number`);
    const typo = await lily('train', 'examples/iris.lily', '--adapter', 'Iris', '--dims', 'Hh=8', '--data', 'examples/data/iris.csv', '--steps', '1');
    expect(typo.code).toBe(1);
    expect(typo.err).toMatch(/no dimension or hyper-parameter 'Hh'; did you mean 'H'\?/);
    // An adapter's defaults are the same whether or not --dims sets one of them.
    const plain = await lily('train', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--steps', '1', '--backend', 'cpu');
    const withDims = await lily('train', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--dims', 'In=64', '--steps', '1', '--backend', 'cpu');
    const sizes = (t: string) => /sizes: (.*)/.exec(t)![1];
    expect(sizes(withDims.err)).toBe(sizes(plain.err));
    const both = await lily('train', 'examples/iris.lily', '--adapter', 'Iris', '--data', 'examples/data/iris.csv', '--steps', '1', '--epochs', '1');
    expect(both.err).toMatch(/--steps or --epochs, not both/);
  });
});
