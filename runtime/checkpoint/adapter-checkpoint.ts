// Adapter checkpoints as PEFT users expect: safetensors with recognisable names (lily_A, lily_B,
// lily_router, lora_A, lora_B, …; under the layer's path for adapters attached to a model) and an
// adapter_config.json beside it. 2-D weights are stored in PyTorch's layout [out, in] (ours are
// [in, out]). The metadata maps each stored name back to our parameter path, so a checkpoint loads
// back exactly (`lily train --resume`).
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CheckedProgram } from '../../compiler/check/check.ts';
import { adapterParamPath } from '../../compiler/interp/instance.ts';
import { loadSafetensors, SafetensorsError, saveSafetensors, type NamedTensor } from './safetensors.ts';

/** Our parameter names to PEFT's, per adapter family (others keep `<family>_<name>`). */
const PEFT_NAMES: Record<string, Record<string, string>> = {
  lily: { A: 'lily_A', B: 'lily_B', R: 'lily_router' },
  lora: { A: 'lora_A', B: 'lora_B' },
};

const familyOf = (adapter: string) => {
  const lower = adapter.toLowerCase();
  return lower.startsWith('lily') ? 'lily' : lower.startsWith('lora') ? 'lora' : lower;
};

const transpose2 = (shape: number[], data: Float32Array): NamedTensor => {
  if (shape.length !== 2) return { shape, data };
  const [r, c] = shape;
  const out = new Float32Array(data.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = data[i * c + j];
  return { shape: [c, r], data: out };
};

/** `A` (an adapter's own) or `blocks.*.q.Lily.B` (attached to a model) to a PEFT-style name. */
function peftName(checked: CheckedProgram, path: string, unitName: string): string {
  const m = adapterParamPath(checked, path);
  const [layer, adapter, param] = m ? [`${m.layer}.`, m.adapter, m.param] : ['', unitName, path];
  const family = familyOf(adapter);
  return `${layer}${PEFT_NAMES[family]?.[param] ?? `${family}_${param}`}.weight`;
}

export function saveAdapter(path: string, checked: CheckedProgram, unitName: string, dims: Record<string, number | boolean>, params: Map<string, NamedTensor>): string {
  const unit = checked.units.get(unitName)!;
  const tensors = new Map<string, NamedTensor>();
  const paths: Record<string, string> = {};
  for (const [name, t] of params) {
    const stored = peftName(checked, name, unitName);
    tensors.set(stored, transpose2(t.shape, t.data));
    paths[stored] = name;
  }
  saveSafetensors(path, tensors, { format: 'pt', lily_adapter: unitName, lily_paths: JSON.stringify(paths) });
  const config = {
    peft_type: familyOf(unitName).toUpperCase(),
    lily_adapter: unitName,
    ...Object.fromEntries(unit.decl.hypers.map((h) => [h.name, dims[h.name] ?? (h.default && 'value' in h.default ? (h.default as { value: unknown }).value : null)])),
    layout: 'PyTorch [out, in] for 2-D weights',
  };
  writeFileSync(join(dirname(path), 'adapter_config.json'), JSON.stringify(config, null, 2));
  return path;
}

/** Load a checkpoint written by saveAdapter: our parameter paths to values in our layout. */
export function loadAdapter(path: string, unitName?: string): Map<string, { shape: number[]; data: Float64Array }> {
  // A folder (what `lily train --save` writes) holds the adapter as PEFT names it.
  if (existsSync(path) && statSync(path).isDirectory()) path = join(path, 'adapter_model.safetensors');
  const { tensors, metadata } = loadSafetensors(path);
  if (unitName && metadata.lily_adapter && metadata.lily_adapter !== unitName)
    throw new SafetensorsError(`${path} holds parameters of '${metadata.lily_adapter}', not '${unitName}'`);
  let paths: Record<string, string>;
  try {
    paths = JSON.parse(metadata.lily_paths ?? '');
  } catch {
    throw new SafetensorsError(`${path} was not written by lily (no lily_paths metadata): cannot map its names back`);
  }
  const out = new Map<string, { shape: number[]; data: Float64Array }>();
  for (const [stored, t] of tensors) {
    const ours = paths[stored];
    // Never skip a tensor silently: a name the metadata does not map is a damaged or foreign file.
    if (!ours) throw new SafetensorsError(`${path}: tensor '${stored}' is not in the file's lily_paths metadata (damaged or written by another tool)`);
    const back = transpose2(t.shape, t.data);
    out.set(ours, { shape: back.shape, data: Float64Array.from(back.data) });
  }
  return out;
}
