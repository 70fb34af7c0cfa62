// The PEFT bridge against PEFT's own golden files (../shared/peft-fixtures, written by PEFT's code):
// every fixture loads through `lily run` and reproduces PEFT's output; what `lily train --save`
// writes for the fixture models has the fixture's keys, shapes, dtypes and config fields; bad
// folders and base files are clear errors (exit 1), never a crash or a silent success.
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lily } from './run-in-process.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../runtime/checkpoint/safetensors-codec.ts';

const FIXTURES = join(import.meta.dirname, '../../../shared/peft-fixtures');
const have = existsSync(join(FIXTURES, 'README.md'));
if (!have) console.warn(`PEFT fixtures not found at ${FIXTURES}: the PEFT golden-file tests are skipped`);

const tmp = mkdtempSync(join(tmpdir(), 'lily-peft-'));
const read = (file: string) => decodeSafetensors(readFileSync(file), file).tensors;
const config = (dir: string) => JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));

/** Each fixture: its .lily model, and how to train the same adapter here. */
const CASES = [
  { name: 'lora-mlp', file: 'examples/peft/mlp.lily', model: 'MLP', targets: 'fc1,fc2', adapter: 'LoRA', hparams: 'r=4,alpha=8' },
  { name: 'rslora-mlp', file: 'examples/peft/mlp.lily', model: 'MLP', targets: 'fc1,fc2', adapter: 'LoRA', hparams: 'r=4,alpha=16,rslora=true' },
  { name: 'dora-mlp', file: 'examples/peft/mlp.lily', model: 'MLP', targets: 'fc1,fc2', adapter: 'DoRA', hparams: 'r=4,alpha=8' },
  { name: 'lily-stack', file: 'examples/peft/stack.lily', model: 'LilyStack', targets: 'fc', adapter: 'Lily', hparams: 'r=4,E=3,stride=2,scale=0.5' },
  { name: 'lily-two-targets', file: 'examples/peft/two-targets.lily', model: 'TwoTargets', targets: 'q,v', adapter: 'Lily', hparams: 'r=4,E=2' },
];

const fx = (c: string, ...p: string[]) => join(FIXTURES, c, ...p);
const runFixture = (c: (typeof CASES)[number], adapterDir: string, ...extra: string[]) =>
  lily('run', c.file, '--model', c.model, '--base', fx(c.name, 'base.safetensors'), '--peft', adapterDir, '--inputs', `x=${fx(c.name, 'inputs.safetensors')}`, ...extra);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>) {
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    abs = Math.max(abs, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { abs, rel: abs / scale };
}

/** Copy a fixture's adapter folder to edit its tensors or config. */
function editAdapter(c: string, edit: (t: Map<string, NamedTensor>, cfg: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmp, `${c}-`));
  cpSync(fx(c, 'adapter'), dir, { recursive: true });
  const tensors = read(join(dir, 'adapter_model.safetensors'));
  const cfg = config(dir);
  edit(tensors, cfg);
  writeFileSync(join(dir, 'adapter_model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(cfg, null, 2));
  return dir;
}

describe.skipIf(!have)('PEFT golden files', () => {
  for (const c of CASES) {
    it(`${c.name}: base + PEFT adapter through lily run reproduce PEFT's output (float64 1e-10, float32 1e-5)`, async () => {
      const out = join(tmp, `${c.name}-y.safetensors`);
      const r = await runFixture(c, fx(c.name, 'adapter'), '--out', out);
      expect(r.err).toContain('loaded');
      expect(r.code).toBe(0);
      const y = read(out).get('y')!.data;
      const expected = read(fx(c.name, 'expected.safetensors'));
      expect(maxDiff(y, expected.get('y_adapted_f64')!.data).rel).toBeLessThan(1e-10);
      expect(maxDiff(y, expected.get('y_adapted')!.data).rel).toBeLessThan(1e-5);
      // And the adapter matters: the base alone gives PEFT's y_base, not y_adapted.
      const base = await lily('run', c.file, '--model', c.model, '--base', fx(c.name, 'base.safetensors'), '--inputs', `x=${fx(c.name, 'inputs.safetensors')}`, '--out', out);
      expect(base.code).toBe(0);
      expect(maxDiff(read(out).get('y')!.data, expected.get('y_base_f64')!.data).rel).toBeLessThan(1e-10);
    });

    it(`${c.name}: lily train --save writes the fixture's keys, shapes, dtypes and config; it loads back`, async () => {
      const dir = join(tmp, `${c.name}-trained`);
      const r = await lily('train', c.file, '--model', c.model, '--target-modules', c.targets, '--adapter', c.adapter, '--hparams', c.hparams, '--base', fx(c.name, 'base.safetensors'), '--steps', '3', '--batch', '8', '--backend', 'cpu', '--save', dir, '--json');
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const ours = read(join(dir, 'adapter_model.safetensors'));
      const theirs = read(fx(c.name, 'adapter', 'adapter_model.safetensors'));
      expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
      for (const [k, t] of theirs) {
        expect(ours.get(k)!.shape, k).toEqual(t.shape);
        expect(ours.get(k)!.data.constructor, k).toBe(t.data.constructor); // F32 both
      }
      // Shared tensors: every layer's copy is written, all equal (as PEFT writes them).
      if (c.name === 'lily-stack') {
        const B = [0, 1, 2].map((i) => ours.get(`base_model.model.blocks.${i}.fc.lily_B.weight`)!.data);
        expect(B[1]).toEqual(B[0]);
        expect(B[2]).toEqual(B[0]);
        const A = [0, 1, 2].map((i) => ours.get(`base_model.model.blocks.${i}.fc.lily_A.weight`)!.data);
        expect(A[1]).toEqual(A[0]);
        expect(A[2]).not.toEqual(A[0]);
      }
      const mine = config(dir);
      const gold = config(fx(c.name, 'adapter'));
      expect(Object.keys(mine).sort()).toEqual(Object.keys(gold).sort());
      for (const k of Object.keys(gold)) {
        if (k === 'peft_version' || k === 'auto_mapping') continue; // informational only
        if (k === 'target_modules') expect([...mine[k]].sort(), k).toEqual([...gold[k]].sort());
        else expect(mine[k], k).toEqual(gold[k]);
      }
      expect(mine.auto_mapping.base_model_class).toBe(gold.auto_mapping.base_model_class);
      expect(readFileSync(join(dir, 'adapter_config.json'), 'utf8').endsWith('}')).toBe(true); // no final newline, as PEFT
      // Our folder loads back through the same path as PEFT's.
      const back = await runFixture(c, dir, '--json');
      expect(back.code).toBe(0);
    });
  }

  it('a trained adapter round-trips exactly: saved values are the values loaded back (Lily, shared tensors)', async () => {
    const c = CASES[3];
    const dir = join(tmp, 'roundtrip');
    await lily('train', c.file, '--model', c.model, '--target-modules', c.targets, '--adapter', 'Lily', '--hparams', c.hparams, '--steps', '5', '--batch', '8', '--backend', 'cpu', '--save', dir, '--json');
    const again = join(tmp, 'roundtrip-2');
    const r = await lily('train', c.file, '--model', c.model, '--peft', dir, '--steps', '1', '--lr', '1e-30', '--batch', '8', '--backend', 'cpu', '--save', again, '--json');
    expect(r.code).toBe(0);
    const a = read(join(dir, 'adapter_model.safetensors'));
    const b = read(join(again, 'adapter_model.safetensors'));
    for (const [k, t] of a) expect(maxDiff(b.get(k)!.data, t.data).abs, k).toBeLessThan(1e-6);
  });

  describe('bad adapter folders are clear errors (exit 1) listing what is wrong', () => {
    const lilyCase = CASES[3];
    const loraCase = CASES[0];
    const expectError = async (c: (typeof CASES)[number], dir: string, ...patterns: RegExp[]) => {
      const r = await runFixture(c, dir);
      expect(r.code).toBe(1);
      for (const p of patterns) expect(r.err).toMatch(p);
      expect(r.err).not.toMatch(/internal error|at .*\.ts:\d+/);
    };
    it('a missing key', async () => {
      const dir = editAdapter('lora-mlp', (t) => t.delete('base_model.model.fc2.lora_B.weight'));
      await expectError(loraCase, dir, /missing 1 key\(s\): base_model\.model\.fc2\.lora_B\.weight \[10,4\]/);
    });
    it('an extra key', async () => {
      const dir = editAdapter('lora-mlp', (t) => t.set('base_model.model.fc3.lora_A.weight', { shape: [1], data: new Float32Array(1) }));
      await expectError(loraCase, dir, /unexpected 1 key\(s\): base_model\.model\.fc3\.lora_A\.weight/);
    });
    it('a wrong shape (a 3-D lily_B)', async () => {
      const dir = editAdapter('lily-stack', (t) => {
        const k = 'base_model.model.blocks.1.fc.lily_B.weight';
        t.set(k, { shape: [3, 4, 16], data: t.get(k)!.data });
      });
      await expectError(lilyCase, dir, /shape mismatch: base_model\.model\.blocks\.1\.fc\.lily_B\.weight: \[3,4,16\] in the file, \[12,16\] expected/);
    });
    it('an unknown method in the config', async () => {
      const dir = editAdapter('lora-mlp', (_t, cfg) => (cfg.peft_type = 'BONE'));
      await expectError(loraCase, dir, /peft_type 'BONE' is not a method Lily reads/);
    });
    it('a feature switched on that Lily does not compute (refused, not misread)', async () => {
      const dir = editAdapter('lora-mlp', (_t, cfg) => (cfg.fan_in_fan_out = true));
      await expectError(loraCase, dir, /fan_in_fan_out = true/);
      const dir2 = editAdapter('lora-mlp', (_t, cfg) => (cfg.use_rslora = 'false'));
      await expectError(loraCase, dir2, /use_rslora must be true or false, found "false"/);
    });
    it('unequal copies of a shared tensor, naming both', async () => {
      const dir = editAdapter('lily-stack', (t) => {
        const k = 'base_model.model.blocks.2.fc.lily_B.weight';
        const d = Float32Array.from(t.get(k)!.data);
        d[5] += 0.25;
        t.set(k, { shape: t.get(k)!.shape, data: d });
      });
      await expectError(lilyCase, dir, /blocks\.0\.fc\.lily_B\.weight and base_model\.model\.blocks\.2\.fc\.lily_B\.weight are copies of one shared tensor but differ/);
    });
    it('--hparams conflicting with the config names both values', async () => {
      const r = await runFixture(lilyCase, fx('lily-stack', 'adapter'), '--hparams', 'E=4');
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/--hparams E=4 conflicts with .*config gives E = 3/);
    });
    it('not a folder, or no such folder', async () => {
      await expectError(loraCase, fx('lora-mlp', 'base.safetensors'), /is not a folder/);
      await expectError(loraCase, join(tmp, 'nope'), /does not exist/);
    });
  });

  describe('base weights with PyTorch names', () => {
    const c = CASES[0];
    const withBase = (base: string, ...extra: string[]) => lily('run', c.file, '--model', c.model, '--base', base, '--inputs', `x=${fx(c.name, 'inputs.safetensors')}`, ...extra);
    const writeBase = (name: string, edit: (t: Map<string, NamedTensor>) => Map<string, NamedTensor>) => {
      const p = join(tmp, name);
      writeFileSync(p, encodeSafetensors(edit(read(fx(c.name, 'base.safetensors')))));
      return p;
    };
    it('a weight missing from the file is an error naming it and the closest names', async () => {
      const r = await withBase(writeBase('no-fc2-bias.safetensors', (t) => (t.delete('fc2.bias'), t)));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/missing fc2\.bias \[10\] \(closest in the file: fc1\.bias, fc2\.weight/);
    });
    it('a file holding none of the model weights fails naming what the model needs', async () => {
      const r = await withBase(writeBase('foreign.safetensors', (t) => new Map([...t].map(([k, v]) => [`encoder.${k}`, v]))));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/holds none of the model's 4 weights/);
      expect(r.err).toMatch(/fc1\.weight/);
      // --base-map renames another naming scheme onto the model's.
      const ok = await withBase(join(tmp, 'foreign.safetensors'), '--base-map', '^encoder\\.=');
      expect(ok.code).toBe(0);
    });
    it('unused tensors are listed, and an error with --strict', async () => {
      const p = writeBase('extra.safetensors', (t) => t.set('head.weight', { shape: [2, 2], data: new Float32Array(4) }));
      const r = await withBase(p);
      expect(r.code).toBe(0);
      expect(r.err).toMatch(/1 unused: head\.weight/);
      const strict = await withBase(p, '--strict');
      expect(strict.code).toBe(1);
    });
    it('a sharded checkpoint (model.safetensors.index.json) loads', async () => {
      const all = read(fx(c.name, 'base.safetensors'));
      const shard = mkdtempSync(join(tmp, 'shards-'));
      const names = [...all.keys()];
      const parts = [names.slice(0, 2), names.slice(2)];
      parts.forEach((p, i) => writeFileSync(join(shard, `model-0000${i + 1}-of-00002.safetensors`), encodeSafetensors(new Map(p.map((n) => [n, all.get(n)!])))));
      writeFileSync(join(shard, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: Object.fromEntries(parts.flatMap((p, i) => p.map((n) => [n, `model-0000${i + 1}-of-00002.safetensors`]))) }));
      const out = join(tmp, 'shard-y.safetensors');
      expect((await withBase(shard, '--out', out)).code).toBe(0);
      const y = read(out).get('y')!.data;
      expect(maxDiff(y, read(fx(c.name, 'expected.safetensors')).get('y_base_f64')!.data).rel).toBeLessThan(1e-10);
    });
  });

  it('an adapter PEFT lacks (MoSLoRA) or an impostor named LoRA is saved as a Lily program folder PEFT refuses, and loads back', async () => {
    const c = CASES[0];
    const dir = join(tmp, 'moslora');
    const r = await lily('train', c.file, '--model', c.model, '--target-modules', c.targets, '--adapter', 'MoSLoRA', '--hparams', 'r=2', '--steps', '3', '--batch', '8', '--backend', 'cpu', '--save', dir, '--json');
    expect(r.code).toBe(0);
    const cfg = config(dir);
    expect(cfg.peft_type).toBe('LILY_PROGRAM');
    expect(cfg.lily_program.source).toContain('adapter MoSLoRA');
    expect(cfg.layers.fc1).toEqual({ adapter: 'MoSLoRA', settings: { r: 2, alpha: 8 } });
    const keys = [...read(join(dir, 'adapter_model.safetensors')).keys()].sort();
    expect(keys).toEqual(['fc1', 'fc2'].flatMap((l) => ['A', 'B', 'M'].map((p) => `base_model.model.${l}.MoSLoRA.${p}`)).sort());
    const out1 = join(tmp, 'mos-1.safetensors');
    const back = await runFixture(c, dir, '--out', out1);
    expect(back.code).toBe(0);
    // An adapter named LoRA that computes something else is not written as PEFT's LORA.
    const impostor = join(tmp, 'impostor.lily');
    writeFileSync(impostor, 'adapter LoRA(r: Dim = 4, alpha: Float = 8.0, rslora: Bool = false) on Linear[In, Out] {\n  param A: [In, r] = kaiming_uniform(a = sqrt(5.0))\n  param B: [r, Out] = zeros\n  delta(x: [N, In]) -> [N, Out] = relu(x @ A) @ B\n}\n');
    const dir2 = join(tmp, 'impostor');
    const r2 = await lily('train', c.file, '--model', c.model, '--target-modules', c.targets, '--adapter', 'LoRA', '--adapter-file', impostor, '--steps', '2', '--batch', '8', '--backend', 'cpu', '--save', dir2, '--json');
    expect(r2.code).toBe(0);
    expect(config(dir2).peft_type).toBe('LILY_PROGRAM');
  });

  it('lily run --grad: gradients of <y, dy> for the adapter (base frozen) equal central differences; inputs from .json', async () => {
    const c = CASES[1]; // rsLoRA, scaling 8: the adapter matters
    const x = read(fx(c.name, 'inputs.safetensors')).get('x')!;
    const xJson = join(tmp, 'x.json');
    writeFileSync(xJson, JSON.stringify({ x: Array.from({ length: 6 }, (_, r) => [...x.data.subarray(r * 16, (r + 1) * 16)]) }));
    const r = await lily('run', c.file, '--model', c.model, '--base', fx(c.name, 'base.safetensors'), '--peft', fx(c.name, 'adapter'), '--inputs', `x=${xJson}`, '--grad', '--json');
    expect(r.code).toBe(0);
    const { gradients } = JSON.parse(r.out);
    expect(Object.keys(gradients).sort()).toEqual(['fc1.LoRA.A', 'fc1.LoRA.B', 'fc2.LoRA.A', 'fc2.LoRA.B', 'x']); // the base is frozen
    // Central differences of sum(y) (dy = ones) in one entry of each adapter tensor.
    const { setupModel } = await import('./model-setup.ts');
    const { runEntry } = await import('../interp/run.ts');
    const setup = setupModel(c.file, { model: c.model, base: fx(c.name, 'base.safetensors'), peft: fx(c.name, 'adapter') });
    const xs = { shape: [6, 16], data: Float64Array.from(x.data) };
    const sumY = (given: Map<string, { shape: number[]; data: Float64Array }>) => {
      const out = runEntry(setup.checked, setup.entry, { settings: setup.settings, inputs: new Map([['x', xs]]), given, attach: setup.attach }).output;
      return (out as { t: { data: Float64Array } }).t.data.reduce((a, b) => a + b, 0);
    };
    for (const leaf of ['fc1.LoRA.A', 'fc2.LoRA.B']) {
      const t = setup.given.get(leaf)!;
      const i = 3;
      const eps = 1e-6;
      const at = (d: number) => sumY(new Map([...setup.given].map(([k, v]) => [k, k === leaf ? { shape: v.shape, data: Float64Array.from(v.data, (u, j) => (j === i ? u + d : u)) } : (v as { shape: number[]; data: Float64Array })])));
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      const g = gradients[leaf].flat(Infinity)[i];
      expect(Math.abs(g - fd), leaf).toBeLessThan(1e-6 * (1 + Math.abs(fd)));
    }
  });

  it("--trainable head trains a base layer whole (PEFT's modules_to_save): saved under its PyTorch name, loaded back", async () => {
    const c = CASES[4];
    const dir = join(tmp, 'with-head');
    const args = ['--model', c.model, '--target-modules', c.targets, '--adapter', 'Lily', '--hparams', c.hparams];
    const r = await lily('train', c.file, ...args, '--trainable', 'head', '--base', fx(c.name, 'base.safetensors'), '--steps', '5', '--batch', '8', '--backend', 'cpu', '--save', dir, '--json');
    expect(r.code).toBe(0);
    expect(config(dir).modules_to_save).toEqual(['head']);
    const saved = read(join(dir, 'adapter_model.safetensors'));
    const gold = read(fx(c.name, 'adapter', 'adapter_model.safetensors'));
    expect([...saved.keys()].sort()).toEqual([...gold.keys(), 'base_model.model.head.weight', 'base_model.model.head.bias'].sort());
    const baseHead = read(fx(c.name, 'base.safetensors')).get('head.weight')!;
    expect(saved.get('base_model.model.head.weight')!.shape).toEqual(baseHead.shape); // [out, in]
    expect(maxDiff(saved.get('base_model.model.head.weight')!.data, baseHead.data).abs).toBeGreaterThan(0); // it trained
    // Loaded back: the folder's head replaces the base file's.
    const p = JSON.parse((await lily('params', c.file, ...args, '--trainable', 'head', '--json')).out);
    expect(p.trainable).toBe(2 * (16 * 4 + 4 * 2 + 2 * 4 * 16) + 16 * 4 + 4);
    const back = await runFixture(c, dir, '--json');
    expect(back.code).toBe(0);
    const conflict = await runFixture(c, dir, '--trainable', 'block.q');
    expect(conflict.code).toBe(1);
    expect(conflict.err).toMatch(/--trainable block\.q conflicts with/);
  });

  it('lily eval: loss and accuracy over every example, in batches (the last one partial), on real weights', async () => {
    const c = CASES[0];
    const x = read(fx(c.name, 'inputs.safetensors')).get('x')!;
    const y = read(fx(c.name, 'expected.safetensors')).get('y_adapted_f64')!;
    // Labels: the adapted model's own argmax for rows 0-3, and a wrong label for rows 4-5.
    const K = 10;
    const labels = Array.from({ length: 6 }, (_, r) => {
      const row = [...y.data.subarray(r * K, (r + 1) * K)];
      const best = row.indexOf(Math.max(...row));
      return r < 4 ? best : (best + 1) % K;
    });
    const data = join(tmp, 'labelled.safetensors');
    writeFileSync(data, encodeSafetensors(new Map([['x', x], ['y', { shape: [6], data: Float32Array.from(labels) }]])));
    const r = await lily('eval', c.file, '--model', c.model, '--base', fx(c.name, 'base.safetensors'), '--peft', fx(c.name, 'adapter'), '--data', data, '--batch', '4', '--json');
    expect(r.code).toBe(0);
    const got = JSON.parse(r.out);
    expect(got.examples).toBe(6);
    expect(got.accuracy).toBeCloseTo(4 / 6, 12);
    // The oracle: cross-entropy of PEFT's float64 logits.
    let ce = 0;
    labels.forEach((l, r) => {
      const row = [...y.data.subarray(r * K, (r + 1) * K)];
      ce += Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[l];
    });
    expect(Math.abs(got.loss - ce / 6)).toBeLessThan(1e-10);
  });

  it('lily merge --peft folds a mergeable adapter into the weights (PyTorch names); Lily is refused with the reason', async () => {
    const c = CASES[2]; // DoRA: the merged weight is m/‖W + sBA‖ ⊙ (W + sBA)
    const merged = join(tmp, 'merged.safetensors');
    const r = await lily('merge', c.file, '--model', c.model, '--base', fx(c.name, 'base.safetensors'), '--peft', fx(c.name, 'adapter'), '-o', merged);
    expect(r.code).toBe(0);
    const out = join(tmp, 'merged-y.safetensors');
    expect((await lily('run', c.file, '--model', c.model, '--base', merged, '--inputs', `x=${fx(c.name, 'inputs.safetensors')}`, '--out', out)).code).toBe(0);
    expect(maxDiff(read(out).get('y')!.data, read(fx(c.name, 'expected.safetensors')).get('y_adapted_f64')!.data).rel).toBeLessThan(1e-5);
    const s = CASES[3];
    const lilyMerge = await lily('merge', s.file, '--model', s.model, '--base', fx(s.name, 'base.safetensors'), '--peft', fx(s.name, 'adapter'), '-o', join(tmp, 'no.safetensors'));
    expect(lilyMerge.code).toBe(1);
    expect(lilyMerge.err).toMatch(/does not merge .*data-dependent router/);
    expect(existsSync(join(tmp, 'no.safetensors'))).toBe(false);
  });

  it('--target-modules: a regular expression on the whole path; a target matching nothing is an error listing the layers', async () => {
    const c = CASES[3];
    const args = ['params', c.file, '--model', c.model, '--adapter', 'Lily', '--hparams', 'r=4,E=3,stride=2', '--json'];
    const re = JSON.parse((await lily(...args, '--target-modules', 're:blocks\\.[01]\\.fc')).out);
    // Two layers: one A (stride 2), one B, two routers.
    expect(re.trainable).toBe(16 * 4 + 3 * 4 * 16 + 2 * 4 * 3);
    const all = JSON.parse((await lily(...args, '--target-modules', 'fc')).out);
    expect(all.trainable).toBe(2 * 16 * 4 + 3 * 4 * 16 + 3 * 4 * 3); // PEFT's count: ceil(3/2) A, one B, 3 routers
    const none = await lily(...args, '--target-modules', 'q');
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/matches no Linear layer of LilyStack[\s\S]*blocks\.0\.fc, blocks\.1\.fc, blocks\.2\.fc, head/);
  });
});
