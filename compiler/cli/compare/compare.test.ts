// lily compare end to end, in process and tiny (two methods, a few steps, one task): sizes chosen
// within the budget, the table, compare.json, compare.md and the SVG plots; ΔW ranks that follow
// from the adapters' form; user errors as messages.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../main.ts';
import type { CompareResult } from './compare.ts';
import { loadImageSplit } from '../../../runtime/data/fashion-mnist.ts';

async function lily(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const BASE = 'examples/models/vit.safetensors';

/** A small task in the IDX layout: the first images of digits-1k (kept small so the test is quick). */
function tinyTask(train: number, test: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'lily-task-'));
  const idx = (code: number, dims: number[], bytes: Uint8Array) => {
    const head = Buffer.alloc(4 + 4 * dims.length);
    head.writeUInt32BE(code, 0);
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    return gzipSync(Buffer.concat([head, bytes]));
  };
  for (const [split, n] of [['train', train], ['t10k', test]] as const) {
    const set = loadImageSplit('examples/data/digits-1k', split);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${split}-images-idx3-ubyte.gz`), idx(0x803, [n, 28, 28], Uint8Array.from(set.images.subarray(0, n * 784), (p) => Math.round(p * 255))));
    writeFileSync(join(dir, `${split}-labels-idx1-ubyte.gz`), idx(0x801, [n], set.labels.subarray(0, n)));
  }
  return dir;
}
const TASK = tinyTask(100, 50);

describe('lily compare', () => {
  // Compiling a ViT training step takes seconds: a generous limit for a shared machine.
  it('two methods (LoRA and a .lily adapter of the user) at one budget, end to end', { timeout: 240_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'lily-compare-'));
    const budget = 4800;
    const r = await lily('compare', 'stdlib/models/vit.lily', '--model', 'ViT', '--base', BASE, '--task', TASK, '--methods', 'lora,examples/mixer-lily.lily:MixerLily', '--budget', String(budget), '--steps', '3', '--batch', '25', '--out', out);
    expect(r.err).not.toMatch(/internal|    at /);
    expect(r.code).toBe(0);
    const c = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as CompareResult;
    expect(c.results.map((m) => m.method)).toEqual(['lora', 'examples/mixer-lily.lily:MixerLily']);
    for (const m of c.results) {
      expect(Math.abs(m.trainable - budget) / budget).toBeLessThanOrEqual(0.05);
      expect(m.withinBudget).toBe(true);
      expect(m.runs).toHaveLength(1);
      expect(m.runs[0].losses).toHaveLength(3);
      expect(m.accuracy.mean).toBeGreaterThanOrEqual(0);
      expect(m.accuracy.mean).toBeLessThanOrEqual(1);
      // q and v of two blocks.
      expect(m.ranks.map((l) => l.layer)).toEqual(['blocks.0.attn.q', 'blocks.0.attn.v', 'blocks.1.attn.q', 'blocks.1.attn.v']);
      // ΔW = A·(…) with A [64, r]: never above r, and training moved it off zero.
      for (const l of m.ranks) expect(l.rank).toBeGreaterThan(0);
      for (const l of m.ranks) expect(l.rank).toBeLessThanOrEqual(m.chosen.r as number);
    }
    const [lora, mixer] = c.results;
    expect(lora.chosen).toMatchObject({ r: 8, alpha: 8 });
    // LoRA: 4 layers × r·(64 + 64) + the head (64·10 + 10).
    expect(lora.trainable).toBe(4 * 8 * 128 + 650);
    expect(lora.mergeable.mergeable).toBe(true);
    expect(mixer.mergeable.mergeable).toBe(false);
    expect(mixer.mergeable.reason).toMatch(/router/);
    expect(r.out).toMatch(/lora\s+r=8 alpha=8\s+4,746/);
    const md = readFileSync(join(out, 'compare.md'), 'utf8');
    expect(md).toMatch(/\| lily-task-\w+ \| lora \| r=8 alpha=8 \| 4,746 \|/);
    for (const f of ['compare-loss.svg', 'compare-rank.svg', 'compare-accuracy.svg']) {
      expect(existsSync(join(out, f))).toBe(true);
      expect(readFileSync(join(out, f), 'utf8')).toMatch(/^<svg[^>]*>[\s\S]*<\/svg>$/);
      expect(md).toContain(`](${f})`);
    }
  });

  it('dora and a stdlib adapter by file (HydraLoRA: r and E sized together), fixed hyper-parameters by METHOD:NAME=VALUE', { timeout: 240_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'lily-compare-'));
    const budget = 6000;
    const r = await lily('compare', 'stdlib/models/vit.lily', '--model', 'ViT', '--base', BASE, '--task', TASK, '--methods', 'dora,stdlib/adapters/hydralora.lily:HydraLoRA,lily:E=3', '--budget', String(budget), '--steps', '2', '--batch', '25', '--out', out);
    expect(r.err).not.toMatch(/internal|    at /);
    expect(r.code).toBe(0);
    const c = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as CompareResult;
    const [dora, hydra, lily3] = c.results;
    for (const m of c.results) {
      expect(Math.abs(m.trainable - budget) / budget).toBeLessThanOrEqual(0.05);
      expect(m.runs[0].losses).toHaveLength(2);
      expect(m.ranks).toHaveLength(4);
      for (const l of m.ranks) expect(l.rank).toBeGreaterThan(0);
    }
    // DoRA: r and alpha = r, the magnitude vectors counted; it merges into W.
    expect(dora.adapter).toBe('DoRA');
    expect(dora.chosen.alpha).toBe(dora.chosen.r);
    expect(dora.searched.map((k) => k.name)).toEqual(['r']);
    expect(dora.mergeable.mergeable).toBe(true);
    expect(r.err).toMatch(/ · dora: [\d,]+ trainable parameters \(r=(\d+), alpha=\1; r sized to the budget \(default 8\)\)/);
    // HydraLoRA's Dim hyper-parameters are r and E: both searched, from its defaults r = 8, E = 3.
    expect(hydra.adapter).toBe('HydraLoRA');
    expect(hydra.searched).toEqual([{ name: 'r', default: 8 }, { name: 'E', default: 3 }]);
    expect(hydra.chosen).toHaveProperty('E');
    expect(r.err).toMatch(/HydraLoRA: [\d,]+ trainable parameters \(r=\d+, E=\d+; searched r, E near the defaults' proportions r=8, E=3\)/);
    // lily:E=3 fixes E; only r is searched.
    expect(lily3.chosen.E).toBe(3);
    expect(lily3.searched.map((k) => k.name)).toEqual(['r']);
  });

  it('--lr-sweep: each method trains at the rate that scored best on the validation split', { timeout: 240_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'lily-compare-'));
    const r = await lily('compare', 'stdlib/models/vit.lily', '--model', 'ViT', '--base', BASE, '--task', TASK, '--methods', 'linear-probe', '--steps', '4', '--batch', '25', '--lr-sweep', '0.0001,0.03', '--val-fraction', '0.5', '--json', '--out', out);
    expect(r.code).toBe(0);
    const [m] = (JSON.parse(r.out) as CompareResult).results;
    expect(m.trainable).toBe(650);
    expect(m.ranks).toEqual([]);
    expect(m.sweep.map((s) => s.lr)).toEqual([0.0001, 0.03]);
    expect(m.lr).toBe(m.sweep.reduce((a, b) => (b.valAccuracy > a.valAccuracy ? b : a)).lr);
  });

  it('an unknown method or task is a message, exit 1', async () => {
    const a = await lily('compare', 'stdlib/models/vit.lily', '--model', 'ViT', '--methods', 'lora,lorax');
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/unknown method 'lorax'/);
    const b = await lily('compare', 'stdlib/models/vit.lily', '--model', 'ViT', '--task', 'no-such-task');
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/--task no-such-task: no such task/);
    const c = await lily('compare', 'stdlib/models/vit.lily', '--model', 'ViT', '--base', BASE, '--task', TASK, '--methods', 'lily:Q=3', '--budget', '5000');
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/--methods lily:Q=3: Lily has no hyper-parameter Q/);
    const d = await lily('compare', 'stdlib/models/vit.lily', '--model', 'ViT', '--methods', 'lily:E');
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/unknown method 'lily:E'/);
  });
});

describe('a method compiled once serves every learning rate and seed', () => {
  it('a reused runner gives the losses, accuracy and parameters of a freshly compiled trainer', { timeout: 240_000 }, async () => {
    const { prepareMethod, parseMethod } = await import('./methods.ts');
    const { prepareRunner, trainAndEvaluate } = await import('./train-run.ts');
    const { loadTask } = await import('./tasks.ts');
    const { cpuBackend } = await import('../../../runtime/backends/cpu-exec.ts');
    const task = loadTask(TASK);
    const p = prepareMethod(parseMethod('lily'), { file: 'stdlib/models/vit.lily', model: 'ViT', base: BASE, targets: 'q,v', head: 'head' }, 4800);
    const backend = cpuBackend();
    const runner = await prepareRunner(p, 25, backend);
    try {
      // A first run leaves trained parameters and moments behind; the second must not see them.
      await runner.run(task.train, task.test, { steps: 3, batch: 25, lr: 0.003, seed: 0, backend });
      const reused = await runner.run(task.train, task.test, { steps: 4, batch: 25, lr: 0.01, seed: 1, backend });
      const fresh = await trainAndEvaluate(p, task.train, task.test, { steps: 4, batch: 25, lr: 0.01, seed: 1, backend });
      expect(reused.losses).toEqual(fresh.losses);
      expect(reused.accuracy).toBe(fresh.accuracy);
      expect([...reused.params.keys()]).toEqual([...fresh.params.keys()]);
      for (const [k, v] of fresh.params) expect(reused.params.get(k)!.data, k).toEqual(v.data);
      // The starting values the ΔW analysis reads: every parameter and every base weight, as the fresh trainer had them.
      const needed = [...fresh.params.keys(), ...fresh.record.weights.map((w) => w.leaf)];
      for (const k of needed) expect(reused.initial.get(k)?.data, k).toEqual(fresh.initial.get(k)!.data);
    } finally {
      runner.dispose();
    }
  });
});
