// The whole-model benchmark: a ViT-small-like encoder (bench/model/vit-small.lily: 6 pre-LN blocks,
// D = 384, 6 heads, MLP 1536, 65 tokens, batch 32), Lily (r = 16, E = 4, B shared across blocks) or
// LoRA (r = 16) on q and v, everything else frozen; one training step (MSE, AdamW) ours vs PyTorch
// eager (bench/torch/peer.py builds the same network), side by side.
import { readFileSync } from 'node:fs';
import { checkSource } from '../compiler/frontend.ts';
import { cpuBackend, type CpuBackendOptions } from '../runtime/backends/cpu-exec.ts';
import { compileTraining, type Trainer } from '../runtime/train.ts';

/** the sizes the program is compiled at (the rest are the model's defaults, listed in MODEL) */
export const MODEL_DIMS = { Bt: 32, T: 65 };
export const MODEL = { ...MODEL_DIMS, D: 384, heads: 6, F: 1536, L: 6, r: 16, E: 4 };
export const MODEL_FILE = new URL('./model/vit-small.lily', import.meta.url).pathname;

export interface ModelStep {
  trainer: Trainer;
  batch: { x: Float32Array; t: Float32Array };
  trainable: number;
  gflop: number;
}

/** Our compiled training step of the encoder with `adapter` ('Lily' or 'LoRA') on q and v (cpu backend options: for A/B runs). */
export async function ourModelStep(adapter: 'Lily' | 'LoRA', cpu: CpuBackendOptions = {}): Promise<ModelStep> {
  const checked = checkSource(readFileSync(MODEL_FILE, 'utf8'), MODEL_FILE);
  const trainer = await compileTraining(checked, adapter === 'Lily' ? 'ViTLily' : 'ViTLoRA', { dims: MODEL_DIMS, backend: cpuBackend(cpu) });
  const n = MODEL.Bt * MODEL.T * MODEL.D;
  const batch = { x: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)), t: Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.11)) };
  const names = trainer.program.train!.assignments.map(([, to]) => to).filter((k) => !/^[mv]:/.test(k));
  const trainable = names.reduce((s, k) => s + trainer.plan.buffers[trainer.plan.leaves.get(k)!]!.size, 0);
  return { trainer, batch, trainable, gflop: (trainer.flops.forward + trainer.flops.backward) / 1e9 };
}
