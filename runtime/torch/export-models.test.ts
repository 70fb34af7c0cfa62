// Every example and stdlib model exported to PyTorch (--model) matches our float64 reference:
// the output, dx and every trainable parameter's gradient (the adapters' where the model has them
// attached in the source, with their sharing). One Python process for all of them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../compiler/ir/prims.ts';
import { exportModelToTorch } from '../../compiler/codegen/torch-model.ts';
import { loadFile } from '../../compiler/frontend.ts';
import { checkModelExports, torchMissing } from './check.ts';

const root = new URL('../..', import.meta.url).pathname;
const missing = torchMissing();
// Small sizes (the defaults are 784-wide images); models needing sizes get them here.
const MODELS: { file: string; model: string; dims: Record<string, number>; trains: RegExp }[] = [
  { file: 'examples/fashion.lily', model: 'Base', dims: { N: 5, In: 12, H: 8 }, trains: /^fc1\.W$/ },
  { file: 'examples/fashion.lily', model: 'BaseLily', dims: { N: 5, In: 12, H: 8 }, trains: /^fc1\.Lily\.B$/ },
  { file: 'examples/lily-on-mlp.lily', model: 'MLP', dims: { N: 5, In: 12, H: 8 }, trains: /^fc2\.Lily\.R$/ },
  { file: 'examples/lily-on-mlp.lily', model: 'DeepMLP', dims: { N: 5, In: 12, H: 8 }, trains: /^hidden\.\*\.fc\.Lily\.B$/ },
  { file: 'examples/lily-on-mlp.lily', model: 'Hidden', dims: { N: 5, H: 8 }, trains: /^fc\.Lily\.A$/ },
  { file: 'stdlib/layers/mlp.lily', model: 'MLP', dims: { N: 5, In: 12, H: 8 }, trains: /^fc1\.W$/ },
  { file: 'stdlib/layers/transformer.lily', model: 'MultiHeadAttention', dims: { B: 2, T: 3, D: 8, heads: 2 }, trains: /^q\.W$/ },
  { file: 'stdlib/layers/transformer.lily', model: 'EncoderBlock', dims: { B: 2, T: 3, D: 8, heads: 2, F: 16 }, trains: /^ln1\.g$/ },
  { file: 'stdlib/layers/transformer.lily', model: 'TransformerEncoder', dims: { B: 2, T: 3, D: 8, heads: 2, F: 16 }, trains: /^blocks\.1\.up\.W$/ },
  { file: 'stdlib/layers/transformer.lily', model: 'ViT28', dims: { B: 2, D: 8, heads: 2, F: 16 }, trains: /^pos$/ },
  // model-wide sharing: one bank for two layers of different sizes
  { file: 'examples/torch/model-wide.lily', model: 'Shared', dims: { N: 5 }, trains: /^VBLoRA\.bank$/ },
];

describe.skipIf(missing)(`torch export of the example and stdlib models${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let reports: Awaited<ReturnType<typeof checkModelExports>> = [];
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lily-torch-models-'));
    const cases = MODELS.map(({ file, model, dims }, i) => {
      const checked = loadFile(join(root, file));
      const ex = exportModelToTorch(checked, model, { settings: dims, file, sha256: 'test' });
      const module = join(dir, `${i}-${model}.py`);
      writeFileSync(module, ex.code);
      // checked at another batch size than exported: the batch stays free
      const at = { ...dims, ...('N' in dims ? { N: 3 } : { B: 3 }) };
      return { module, checked, model, settings: at };
    });
    reports = await checkModelExports(cases);
  }, 240_000);

  MODELS.forEach(({ file, model, trains }, i) =>
    it(`${file} ${model}: y, dx and every gradient to 1e-9`, () => {
      const r = reports[i];
      expect(r.problems).toEqual([]);
      expect(Object.keys(r.errors).some((k) => trains.test(k.slice(5)))).toBe(true);
    }),
  );

  it('names base weights the PyTorch way', () => {
    expect(reports[0].stateDict).toEqual(['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    expect(reports[1].stateDict).toContain('fc1.base_layer.weight');
    expect(reports[1].stateDict).toContain('fc1.Lily.A');
  });

  it('shares a model-wide parameter as one tensor across layers of different sizes', () => {
    const r = reports[MODELS.findIndex((m) => m.model === 'Shared')];
    expect(Object.keys(r.errors)).toEqual(expect.arrayContaining(['grad:VBLoRA.bank', 'grad:Compacter.A', 'grad:fc2.VBLoRA.LA']));
    // one entry per layer in the state dict, the same tensor behind them
    expect(r.stateDict.filter((k) => k.endsWith('VBLoRA.bank'))).toEqual(['fc1.VBLoRA.bank', 'fc2.VBLoRA.bank']);
  });
});
