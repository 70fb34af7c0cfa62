// Saving a trained adapter as PEFT users expect: adapter_model.safetensors with recognisable names
// (lily_A, lily_B, lily_router, lora_A, lora_B, …) and an adapter_config.json beside it.
// Weights are stored in PyTorch's layout: 2-D matrices as [out, in] (ours are [in, out]).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CheckedProgram } from '../../compiler/check/check.ts';
import { saveSafetensors, type NamedTensor } from './safetensors.ts';

/** Our parameter names to PEFT's, per adapter family (others keep `<family>_<name>`). */
const PEFT_NAMES: Record<string, Record<string, string>> = {
  lily: { A: 'lily_A', B: 'lily_B', R: 'lily_router' },
  lora: { A: 'lora_A', B: 'lora_B' },
};

const transpose2 = (shape: number[], data: Float32Array): NamedTensor => {
  if (shape.length !== 2) return { shape, data };
  const [r, c] = shape;
  const out = new Float32Array(data.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = data[i * c + j];
  return { shape: [c, r], data: out };
};

export function saveAdapter(path: string, checked: CheckedProgram, adapter: string, dims: Record<string, number | boolean>, params: Map<string, NamedTensor>): string {
  const unit = checked.units.get(adapter)!;
  const lower = adapter.toLowerCase();
  const family = lower.startsWith('lily') ? 'lily' : lower.startsWith('lora') ? 'lora' : lower;
  const names = PEFT_NAMES[family] ?? {};
  const tensors = new Map<string, NamedTensor>();
  for (const [name, t] of params) tensors.set(`${names[name] ?? `${family}_${name}`}.weight`, transpose2(t.shape, t.data));
  saveSafetensors(path, tensors, { format: 'pt', lily_adapter: adapter });
  const config = {
    peft_type: family.toUpperCase(),
    lily_adapter: adapter,
    ...Object.fromEntries(unit.decl.hypers.map((h) => [h.name, dims[h.name] ?? (h.default && 'value' in h.default ? (h.default as { value: unknown }).value : null)])),
    layout: 'PyTorch [out, in] for 2-D weights',
  };
  writeFileSync(join(dirname(path), 'adapter_config.json'), JSON.stringify(config, null, 2));
  return path;
}
