// The library's PEFT API (loadModel / loadPeft / savePeft in lily-lang/node, encodePeft / decodePeft
// in lily-lang) against PEFT's own golden files (../shared/peft-fixtures, written by PEFT's code):
// a PEFT folder loads onto the model and reproduces PEFT's output; encoding it again gives PEFT's
// tensors and config back; the browser-safe decoder agrees with the loader; trained adapters saved
// with savePeft load back bit-exact; a folder that does not fit is a clear error.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LilyError } from '../../compiler/diagnostics.ts';
import { runEntry } from '../../compiler/interp/run.ts';
import { decodeSafetensors } from '../checkpoint/safetensors-codec.ts';
import { compileTraining } from '../train.ts';
import { referenceBackend } from '../backends/reference-exec.ts';
import type { Tensor } from '../tensor/index.ts';
import { decodePeft, encodePeft, trainingOptions } from './adapted.ts';
import { adaptModel } from './adapt.ts';
import { checkSources } from '../../compiler/frontend-source.ts';
import { PEFT_METHODS } from './methods.ts';
import { PeftFormatError } from './folder.ts';
import { loadModel, loadPeft, savePeft } from './library.ts';
import { readAdapterFolder } from './node.ts';

const FIXTURES = join(import.meta.dirname, '../../../shared/peft-fixtures');
const have = existsSync(join(FIXTURES, 'README.md'));
const fx = (c: string, ...p: string[]) => join(FIXTURES, c, ...p);
const example = (f: string) => join(import.meta.dirname, '../../examples/peft', f);
const tmp = mkdtempSync(join(tmpdir(), 'lily-peft-api-'));
const tensors = (bytes: Uint8Array, file = 'adapter') => decodeSafetensors(bytes, file).tensors;

const CASES = [
  { name: 'lora-mlp', file: 'mlp.lily', model: 'MLP' },
  { name: 'rslora-mlp', file: 'mlp.lily', model: 'MLP' },
  { name: 'dora-mlp', file: 'mlp.lily', model: 'MLP' },
  { name: 'lily-stack', file: 'stack.lily', model: 'LilyStack' },
  { name: 'lily-two-targets', file: 'two-targets.lily', model: 'TwoTargets' },
];

const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    abs = Math.max(abs, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return a.length === b.length ? abs / scale : Infinity;
};

describe.skipIf(!have)('loadPeft / encodePeft / decodePeft / savePeft on PEFT golden files', () => {
  for (const c of CASES) {
    it(`${c.name}: loadPeft reproduces PEFT's output, and encodePeft writes PEFT's tensors and config back`, () => {
      const model = loadPeft(fx(c.name, 'adapter'), example(c.file), { model: c.model, base: fx(c.name, 'base.safetensors') });
      const x = tensors(readFileSync(fx(c.name, 'inputs.safetensors'))).get('x')!;
      const y = runEntry(model.checked, model.entry, { settings: { ...model.settings, N: x.shape[0] }, inputs: new Map([['x', { shape: x.shape, data: Float64Array.from(x.data) }]]), given: model.given, attach: model.attach }).output as { t: Tensor };
      expect(relDiff(y.t.data, tensors(readFileSync(fx(c.name, 'expected.safetensors'))).get('y_adapted_f64')!.data)).toBeLessThan(1e-10);

      // Round trip: what PEFT wrote → our leaves → PEFT's files again.
      const theirs = readAdapterFolder(fx(c.name, 'adapter'));
      const ours = encodePeft(model);
      const [a, b] = [tensors(ours.weights), tensors(theirs.weights)];
      expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
      for (const [k, t] of b) {
        expect(a.get(k)!.shape, k).toEqual(t.shape);
        expect(a.get(k)!.data.constructor, k).toBe(t.data.constructor); // F32 as PEFT writes
        // Transposes are exact; DoRA's magnitude goes through ‖W0‖ and back (float32 rounding).
        expect(relDiff(a.get(k)!.data, t.data), k).toBeLessThan(c.name === 'dora-mlp' ? 1e-6 : 1e-15);
      }
      const config = JSON.parse(ours.config);
      const informational = (cfg: Record<string, unknown>) => ({ ...cfg, peft_version: undefined, auto_mapping: { ...(cfg.auto_mapping as object), parent_library: undefined }, target_modules: [...(cfg.target_modules as string[])].sort() });
      expect(informational(config)).toEqual(informational(theirs.config));

      // The browser-safe decoder gives the loader's values.
      const decoded = decodePeft(model, theirs, c.name);
      expect(decoded.size).toBeGreaterThan(0);
      for (const [leaf, v] of decoded) expect(v.data, leaf).toEqual(model.given.get(leaf)!.data);
    });
  }

  it('savePeft after training writes a folder that loadPeft reads back bit-exact (DoRA: magnitude relative to the base)', async () => {
    const base = fx('dora-mlp', 'base.safetensors');
    const model = loadModel(example('mlp.lily'), { model: 'MLP', adapter: 'dora', targetModules: ['fc1', 'fc2'], hparams: { r: 4, alpha: 8 }, base });
    const trainer = await compileTraining(model.checked, model.entry, { ...trainingOptions(model, 4), backend: referenceBackend, optimizer: { kind: 'adamw', lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } });
    const x = Float32Array.from({ length: 4 * 16 }, (_, i) => Math.sin(i));
    const t = Float32Array.from({ length: 4 * 10 }, (_, i) => Math.cos(i));
    const losses = [];
    for (let i = 0; i < 5; i++) losses.push(await trainer.step({ x, t }));
    expect(losses.at(-1)).toBeLessThan(losses[0]);
    const dir = await savePeft(join(tmp, 'dora'), model, trainer);
    expect(readAdapterFolder(dir).config).toMatchObject({ peft_type: 'LORA', use_dora: true, r: 4, lora_alpha: 8 });

    const back = loadPeft(dir, example('mlp.lily'), { model: 'MLP', base });
    const trained = await trainer.namedParameters();
    expect(back.fromPeft.size).toBe(trained.size); // A, B and the magnitude of both layers
    for (const [leaf, v] of trained) {
      const got = back.given.get(leaf)!.data;
      // A and B are stored as they are; dm as ‖W0‖ + dm in float32, then less ‖W0‖ again.
      expect(relDiff(got, v.data), leaf).toBeLessThan(leaf.endsWith('.dm') ? 1e-6 : 1e-300);
    }
    trainer.dispose();
  });

  it('a folder that does not fit is a clear error listing why; a model without adapters has nothing to save', async () => {
    // LoRA r=4, alpha=8 here; the rsLoRA folder scales by alpha/√r.
    const lora = loadModel(example('mlp.lily'), { model: 'MLP', adapter: 'LoRA', targetModules: 'fc1,fc2', hparams: { r: 4, alpha: 8 } });
    const rs = readAdapterFolder(fx('rslora-mlp', 'adapter'));
    const e = (() => {
      try {
        decodePeft(lora, rs, 'rslora-mlp');
      } catch (err) {
        return err as PeftFormatError;
      }
    })();
    expect(e).toBeInstanceOf(PeftFormatError);
    expect(e!.details.join('\n')).toMatch(/lora_alpha = 16 in the folder, alpha = 8 here/);
    expect(e!.details.join('\n')).toMatch(/use_rslora = true in the folder, rslora = false here/);
    expect(() => decodePeft(lora, readAdapterFolder(fx('lily-stack', 'adapter')), 'lily-stack')).toThrow(/holds a PEFT lily adapter/);
    // The loader reports the model that does not fit as a user error (E-file / E-usage), never a crash.
    expect(() => loadPeft(fx('lily-stack', 'adapter'), example('mlp.lily'), { model: 'MLP' })).toThrow(LilyError);
    const plain = loadModel(example('mlp.lily'), { model: 'MLP' });
    expect(() => encodePeft(plain)).toThrow(/no adapters attached/);
    await expect(savePeft(join(tmp, 'none'), plain, new Map())).rejects.toThrow(/no adapters attached/);
  });

  it('adaptModel (browser-safe, no files) describes the model as the Node loader does: the same PEFT files, the same decoding', () => {
    const stdlib = (rel: string) => ({ file: rel, source: readFileSync(join(import.meta.dirname, '../../stdlib', rel), 'utf8') });
    const references = new Map(PEFT_METHODS.map((m) => [m.name, checkSources([stdlib(m.stdlib)])]));
    for (const c of ['lora-mlp', 'dora-mlp']) {
      const loaded = loadPeft(fx(c, 'adapter'), example('mlp.lily'), { model: 'MLP', base: fx(c, 'base.safetensors') });
      const model = adaptModel(loaded.checked, 'MLP', { settings: loaded.settings, attach: loaded.attach, given: loaded.given, model: { name: 'MLP', library: 'mlp' }, reference: (m) => references.get(m.name)! });
      expect(model.spec!.method!.name).toBe(c.split('-')[0]);
      const [a, b] = [encodePeft(model), encodePeft(loaded)];
      expect(a.config).toBe(b.config);
      expect(a.weights).toEqual(b.weights);
      const decoded = decodePeft(model, readAdapterFolder(fx(c, 'adapter')), c);
      for (const [leaf, v] of decoded) expect(v.data, leaf).toEqual(loaded.given.get(leaf)!.data);
    }
    // An adapter PEFT lacks is saved as a Lily program: the source given is embedded.
    const moslora = loadModel(example('mlp.lily'), { model: 'MLP', adapter: 'MoSLoRA', targetModules: ['fc1'], hparams: { r: 2 } });
    const program = { file: 'moslora.lily', source: 'adapter MoSLoRA …', sha256: '00' };
    const mos = adaptModel(moslora.checked, 'MLP', { settings: moslora.settings, attach: moslora.attach, program, reference: (m) => references.get(m.name)! });
    expect(mos.spec!.method).toBeUndefined();
    expect(mos.spec).toMatchObject({ program, targets: ['fc1'], modelClass: 'Linear' });
    expect(JSON.parse(encodePeft(mos).config)).toMatchObject({ peft_type: 'LILY_PROGRAM', lily_program: program });
  });
});
