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
import { loadSafetensors, saveSafetensors } from '../checkpoint/safetensors.ts';
import { rng } from '../init/rng.ts';
import { main } from '../../compiler/cli/main.ts';
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
  const testLoss = Number(/test: loss ([\d.]+)/.exec(r.stdout)?.[1]);
  return Object.assign(loadSafetensors(join(dir, out, 'adapter_model.safetensors')).tensors, { testLoss });
}

function maxDiff(a: Map<string, { data: ArrayLike<number> }>, b: Map<string, { data: ArrayLike<number> }>) {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let d = 0;
  for (const [k, t] of a) for (let i = 0; i < t.data.length; i++) d = Math.max(d, Math.abs(t.data[i] - b.get(k)!.data[i]));
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

  it('Lily: 2 processes × 16 rows = 1 process × 2 micro-batches of 16; lily eval reads the PEFT folder back', async () => {
    // A base with PyTorch names, read by both the script and lily eval.
    const r = rng(3);
    const t = (shape: number[]) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 0.05 * r.normal()) });
    const base = join(dir, 'base.safetensors');
    saveSafetensors(base, new Map([['fc1.weight', t([64, 784])], ['fc1.bias', t([64])], ['fc2.weight', t([10, 64])], ['fc2.bias', t([10])]]));
    const files = exportPair('stdlib/adapters/lily.lily', 'Lily', { r: 4, E: 4 });
    const two = train(files, 'r=4,E=4', 2, 'lily-2', ['--base', base]);
    const one = train(files, 'r=4,E=4', 1, 'lily-1', ['--base', base, '--micro-batches', '2']);
    const out: string[] = [];
    const code = await main(['eval', join(root, 'examples/fashion.lily'), '--model', 'Base', '--base', base, '--peft', join(dir, 'lily-2'), '--data', 'fashion-mnist', '--batch', '300', '--json'], { out: (s) => out.push(s), err: () => {} });
    expect(code).toBe(0);
    // the script's own test loss (float64, all 300 rows in one call as Lily's router needs, before
    // saving in float32) = lily eval's on the saved folder
    expect(Math.abs(JSON.parse(out.join('')).loss - two.testLoss)).toBeLessThan(2e-6);
    expect(maxDiff(two, one)).toBeLessThan(1e-6);
    expect([...two.keys()]).toContain('base_model.model.fc1.lily_router.weight');
    expect(two.get('base_model.model.fc1.lily_B.weight')!.shape).toEqual([16, 64]);
  }, 240_000);
});
