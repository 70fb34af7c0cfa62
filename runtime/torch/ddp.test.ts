// examples/torch/train_ddp.py: 2 processes × half the batch under DistributedDataParallel (gloo, CPU)
// give the same adapter weights as 1 process × the whole batch after 10 steps (1e-6). For LoRA
// (rows independent) that is the plain full batch; Lily's router averages over the rows of each
// call, so its single-process equal is the batch as 2 micro-batches (what DDP computes).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../compiler/ir/prims.ts';
import { exportAdapterToTorch } from '../../compiler/codegen/torch-module.ts';
import { exportModelToTorch } from '../../compiler/codegen/torch-model.ts';
import { loadFile } from '../../compiler/frontend.ts';
import { loadSafetensors } from '../checkpoint/safetensors.ts';
import { PYTHON, torchMissing } from './check.ts';

const root = new URL('../..', import.meta.url).pathname;
const missing = torchMissing();
const dir = mkdtempSync(join(tmpdir(), 'lily-ddp-'));

function exportPair(adapterFile: string, adapter: string, dims: Record<string, number>) {
  const model = join(dir, 'base_model.py');
  writeFileSync(model, exportModelToTorch(loadFile(join(root, 'examples/fashion.lily')), 'Base', { settings: {}, file: 'examples/fashion.lily', sha256: 'test' }).code);
  const module = join(dir, `${adapter}.py`);
  writeFileSync(module, exportAdapterToTorch(loadFile(join(root, adapterFile)), adapter, { settings: dims, file: adapterFile, sha256: 'test' }).code);
  return { model, module };
}

function train(files: { model: string; module: string }, hypers: string, nproc: number, out: string, extra: string[] = []) {
  const args = [join(root, 'examples/torch/train_ddp.py'), '--model', files.model, '--adapter', files.module, '--targets', 'fc1,fc2', '--hypers', hypers, '--nproc', String(nproc), '--steps', '10', '--batch', '32', '--double', '--out', join(dir, out), ...extra];
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', timeout: 120_000 });
  expect(r.stderr).not.toMatch(/Traceback|Error/);
  expect(r.status).toBe(0);
  return loadSafetensors(join(dir, out, 'adapter_model.safetensors')).tensors;
}

function maxDiff(a: Map<string, { data: Float32Array }>, b: Map<string, { data: Float32Array }>) {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let d = 0;
  for (const [k, t] of a) t.data.forEach((v, i) => (d = Math.max(d, Math.abs(v - b.get(k)!.data[i]))));
  return d;
}

describe.skipIf(missing)(`DDP training of exported modules${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('LoRA: 2 processes × 16 rows = 1 process × 32 rows after 10 AdamW steps', () => {
    const files = exportPair('stdlib/adapters/lora.lily', 'LoRA', { r: 4, alpha: 8 });
    const two = train(files, 'r=4,alpha=8', 2, 'lora-2');
    const one = train(files, 'r=4,alpha=8', 1, 'lora-1');
    expect(two.get('base_model.model.fc1.lora_B.weight')!.data.some((v) => v !== 0)).toBe(true); // it trained
    expect(maxDiff(two, one)).toBeLessThan(1e-6);
  }, 240_000);

  it('Lily: 2 processes × 16 rows = 1 process × 2 micro-batches of 16, and saves a PEFT folder', () => {
    const files = exportPair('stdlib/adapters/lily.lily', 'Lily', { r: 4, E: 4 });
    const two = train(files, 'r=4,E=4', 2, 'lily-2');
    const one = train(files, 'r=4,E=4', 1, 'lily-1', ['--micro-batches', '2']);
    expect(maxDiff(two, one)).toBeLessThan(1e-6);
    expect([...two.keys()]).toContain('base_model.model.fc1.lily_router.weight');
    expect(two.get('base_model.model.fc1.lily_B.weight')!.shape).toEqual([16, 64]);
  }, 240_000);
});
