// The exported modules read PEFT's own files: inject into the fixture's plain-PyTorch model, load
// adapter_model.safetensors with load_state_dict(strict=True), reproduce PEFT's outputs, and save
// back the same file (every shared copy). One Python process per case (each imports torch).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../compiler/ir/prims.ts';
import { exportAdapterToTorch } from '../../compiler/codegen/torch-module.ts';
import { loadFile } from '../../compiler/frontend.ts';
import { PYTHON, torchMissing } from './check.ts';

const root = new URL('../..', import.meta.url).pathname;
const FIXTURES = join(root, '../shared/peft-fixtures');
const missing = torchMissing();

const CASES: { name: string; file: string; adapter: string; dims: Record<string, number | boolean>; targets: string[]; trainable: number }[] = [
  { name: 'lily-stack', file: 'stdlib/adapters/lily.lily', adapter: 'Lily', dims: { r: 4, E: 3, stride: 2, scale: 0.5 }, targets: ['fc'], trainable: 2 * 4 * 16 + 3 * 4 * 16 + 3 * 3 * 4 },
  { name: 'lily-two-targets', file: 'stdlib/adapters/lily.lily', adapter: 'Lily', dims: { r: 4, E: 2, scale: 1.0 }, targets: ['q', 'v'], trainable: 2 * (4 * 16 + 2 * 4 * 16 + 2 * 4) },
  { name: 'lora-mlp', file: 'stdlib/adapters/lora.lily', adapter: 'LoRA', dims: { r: 4, alpha: 8 }, targets: ['fc1', 'fc2'], trainable: 4 * (16 + 12) + 4 * (12 + 10) },
  { name: 'rslora-mlp', file: 'stdlib/adapters/lora.lily', adapter: 'LoRA', dims: { r: 4, alpha: 16, rslora: true }, targets: ['fc1', 'fc2'], trainable: 4 * (16 + 12) + 4 * (12 + 10) },
  { name: 'dora-mlp', file: 'stdlib/adapters/dora.lily', adapter: 'DoRA', dims: { r: 4, alpha: 8 }, targets: ['fc1', 'fc2'], trainable: 4 * (16 + 12) + 4 * (12 + 10) + 12 + 10 },
];

describe.skipIf(missing)(`exported modules load PEFT's golden folders${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lily-peft-'));
  for (const c of CASES)
    it(`${c.name}: strict load, PEFT's output (f64 1e-12, f32 1e-5), saves PEFT's file back`, () => {
      const ex = exportAdapterToTorch(loadFile(join(root, c.file)), c.adapter, { settings: c.dims, file: c.file, sha256: 'test' });
      const module = join(dir, `${c.name}.py`);
      writeFileSync(module, ex.code);
      const r = spawnSync(PYTHON, [join(root, 'runtime/torch/peft_fixture_check.py'), module, join(FIXTURES, c.name), JSON.stringify({ targets: c.targets, hypers: c.dims })], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout);
      expect(out.f64).toBeLessThan(1e-12);
      expect(out.f32).toBeLessThan(1e-5);
      expect(out.roundtrip_keys).toBe(true);
      expect(out.roundtrip_max).toBe(0);
      expect(out.trainable).toBe(c.trainable);
    });
});
