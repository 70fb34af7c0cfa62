// --save: trained adapters as a PEFT folder (PEFT's own format for PEFT's methods, a Lily program
// folder otherwise); a plain model's weights as a PyTorch state dict (`fc1.weight` [out, in]).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodeSafetensors, type NamedTensor } from '../../runtime/checkpoint/safetensors-codec.ts';
import { encodeAdapterFolder } from '../../runtime/peft/folder.ts';
import { transpose2d, type Dense } from '../../runtime/peft/layouts.ts';
import type { BaseWeight } from '../interp/targets.ts';
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
  const n = writeStateDict(target, setup.record.weights, value);
  return `${target} (PyTorch state dict: ${n} tensors)`;
}

/** A model's weights as a PyTorch state dict: `fc1.weight` [out, in], `fc1.bias`, …; returns the tensor count. */
export function writeStateDict(file: string, weights: BaseWeight[], value: (leaf: string) => Dense): number {
  const tensors = new Map<string, NamedTensor>();
  for (const w of weights) {
    if (tensors.has(w.torch)) continue;
    const t = value(w.leaf);
    const f32 = { shape: t.shape, data: Float32Array.from(t.data) };
    tensors.set(w.torch, w.transpose ? transpose2d(f32) : f32);
  }
  asUserError(() => writeAtomic(file, encodeSafetensors(tensors, { format: 'pt' })));
  return tensors.size;
}
