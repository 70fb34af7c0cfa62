// --save: trained adapters as a PEFT folder (PEFT's own format for PEFT's methods, a Lily program
// folder otherwise); a plain model's weights as a PyTorch state dict (`fc1.weight` [out, in]).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodeSafetensors, type NamedTensor } from '../../runtime/checkpoint/safetensors-codec.ts';
import { encodeAdapterFolder } from '../../runtime/peft/folder.ts';
import type { Dense } from '../../runtime/peft/layouts.ts';
import { checkSaveFolder, writeAdapterFolder, writeAtomic } from '../../runtime/peft/node.ts';
import { fail } from '../diagnostics.ts';
import { asUserError, type ModelSetup } from './model-setup.ts';

/** Where --save writes for this setup; checked (and created) before any work is done. */
export function prepareSave(target: string, setup: ModelSetup, overwrite: boolean): string {
  if (setup.record.adapted.length) {
    if (target.endsWith('.safetensors')) fail('E-usage', `--save takes a folder for adapters (PEFT's layout: adapter_model.safetensors + adapter_config.json), found '${target}'`);
    asUserError(() => checkSaveFolder(target, overwrite));
    return target;
  }
  // A plain model: a state dict file (or model.safetensors in a folder); re-training replaces it.
  const file = target.endsWith('.safetensors') ? target : join(target, 'model.safetensors');
  asUserError(() => checkSaveFolder(target.endsWith('.safetensors') ? dirname(target) || '.' : target, true));
  if (existsSync(file) && !statSync(file).isFile()) fail('E-usage', `--save ${file}: exists and is not a regular file`);
  return file;
}

/** Write the trained state; `value(leaf)` is a parameter's current value (or a base weight's). */
export function saveTrained(target: string, setup: ModelSetup, value: (leaf: string) => Dense): string {
  if (setup.record.adapted.length) {
    const files = asUserError(() => encodeAdapterFolder(setup.spec!, setup.record.adapted, value));
    asUserError(() => writeAdapterFolder(target, files));
    return `${target} (${setup.spec!.method ? `PEFT ${setup.spec!.method.peftType}` : 'Lily program'}: ${files.weights.length} bytes)`;
  }
  const tensors = new Map<string, NamedTensor>();
  for (const w of setup.record.weights) {
    if (tensors.has(w.torch)) continue;
    const t = value(w.leaf);
    const data = Float32Array.from(t.data);
    if (w.transpose) {
      const [r, c] = t.shape;
      const out = new Float32Array(data.length);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = data[i * c + j];
      tensors.set(w.torch, { shape: [c, r], data: out });
    } else tensors.set(w.torch, { shape: t.shape, data });
  }
  asUserError(() => writeAtomic(target, encodeSafetensors(tensors, { format: 'pt' })));
  return `${target} (PyTorch state dict: ${tensors.size} tensors)`;
}
