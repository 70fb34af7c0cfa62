// The GPU benchmark (run by bench/gpu.sh on a machine with an NVIDIA GPU): the paper-shape Lily step
// and the whole-model steps on our WebGPU path (gpu.js's webgpu mode through Dawn; Vulkan on a real
// GPU) vs PyTorch CUDA eager, side by side; each part reports its own failure instead of stopping.
//   npx tsx bench/gpu.ts [--json] [--quick] [--only paper-lily|vit-lily|vit-lora]
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkSource } from '../compiler/frontend.ts';
import { gpuJsBackend } from '../runtime/backends/gpujs-exec.ts';
import { probeWebGPU } from '../runtime/backends/webgpu-node.ts';
import { compileTraining, type Trainer } from '../runtime/train.ts';
import { benchFlags } from './common.ts';
import { MODEL } from './model.ts';
import { ms, timeTogether, type Timing } from './timing.ts';
import { TorchPeer } from './torch-peer.ts';

const { json, quick } = benchFlags();
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const log = (s: string) => (json ? process.stderr.write(`${s}\n`) : process.stdout.write(`${s}\n`));
const PAPER = { N: 1024, In: 768, Out: 768, r: 16, E: 4 };
const REPS = quick ? 3 : 9;
// paths from the repository root (bench/gpu.sh runs there; this file also runs as a bundle elsewhere)
const LILY_FILE = path.resolve('stdlib/adapters/lily.lily');
const MODEL_FILE = path.resolve('bench/model/vit-small.lily');
const err = (e: unknown) => (e as Error).message.split('\n')[0]!.slice(0, 300);

async function main() {
  const results: Record<string, unknown> = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version } };
  const probe = await probeWebGPU();
  results.webgpu = probe;
  log(`WebGPU: ${JSON.stringify(probe)}`);
  const torch = await TorchPeer.start();
  const peer = 'peer' in torch ? torch.peer : null;
  results.torch = 'peer' in torch ? torch.info : { error: torch.error };
  log(`PyTorch: ${JSON.stringify(results.torch)}`);

  const cases: { name: string; file: string; unit: string; dims: Record<string, number>; torchDims: Record<string, number>; n: number[] }[] = [
    { name: 'paper-lily', file: LILY_FILE, unit: 'Lily', dims: { ...PAPER, scale: 1 }, torchDims: PAPER, n: [PAPER.N * PAPER.In, PAPER.N * PAPER.Out] },
    { name: 'vit-lily', file: MODEL_FILE, unit: 'ViTLily', dims: { Bt: MODEL.Bt, T: MODEL.T }, torchDims: MODEL, n: [MODEL.Bt * MODEL.T * MODEL.D, MODEL.Bt * MODEL.T * MODEL.D] },
    { name: 'vit-lora', file: MODEL_FILE, unit: 'ViTLoRA', dims: { Bt: MODEL.Bt, T: MODEL.T }, torchDims: MODEL, n: [MODEL.Bt * MODEL.T * MODEL.D, MODEL.Bt * MODEL.T * MODEL.D] },
  ];
  for (const c of cases) {
    if (only && c.name !== only) continue;
    const row: Record<string, unknown> = {};
    const fns: Record<string, () => unknown> = {};
    let trainer: Trainer | null = null;
    try {
      const backend = gpuJsBackend('webgpu');
      const ok = await backend.available();
      if (!ok.ok) throw new Error(ok.reason);
      trainer = await compileTraining(checkSource(readFileSync(c.file, 'utf8'), c.file), c.unit, { dims: c.dims, backend, params: 'random', seed: 2 });
      const batch = { x: Float32Array.from({ length: c.n[0]! }, (_, i) => Math.sin(i * 0.37)), t: Float32Array.from({ length: c.n[1]! }, (_, i) => Math.cos(i * 0.11)) };
      await trainer.step(batch); // compiles every kernel; step() reads the loss back, so each sample waits for the GPU
      fns.ours_webgpu = () => trainer!.step(batch);
    } catch (e) {
      row.ours_error = err(e);
    }
    if (peer) {
      const s = await peer.setup(c.name, c.name, c.torchDims, { device: 'cuda' });
      if ('trainable' in s) fns.torch_cuda = async () => ({ selfMs: await peer.step(c.name) });
      else row.torch_error = s.error;
    }
    try {
      const t: Record<string, Timing> = Object.keys(fns).length ? await timeTogether(fns, c.name.startsWith('vit') ? Math.ceil(REPS / 2) : REPS, 2) : {};
      for (const [k, v] of Object.entries(t)) row[`${k}_ms`] = v.median, row[`${k}_range_ms`] = [v.min, v.max];
      if (t.ours_webgpu && t.torch_cuda) row.ours_over_torch = t.ours_webgpu.median / t.torch_cuda.median;
      log(`${c.name}: ${Object.entries(t).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}${row.ours_error ? ` ours: ${row.ours_error}` : ''}${row.torch_error ? ` torch: ${row.torch_error}` : ''}`);
    } catch (e) {
      row.timing_error = err(e);
      log(`${c.name}: ${row.timing_error}`);
    }
    trainer?.dispose();
    results[c.name] = row;
  }
  peer?.close();
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`gpu bench failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
