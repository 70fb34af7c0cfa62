// safetensors files on disk (Node): atomic writes, clear errors. The format itself is in
// safetensors-codec.ts (browser-safe).
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type NamedTensor } from './safetensors-codec.ts';

export { decodeSafetensors, encodeSafetensors, SafetensorsError, type NamedTensor } from './safetensors-codec.ts';

/** Write atomically (temp file, then rename): an interrupted save never leaves a corrupt file. */
export function saveSafetensors(path: string, tensors: Map<string, NamedTensor>, metadata?: Record<string, string>): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, encodeSafetensors(tensors, metadata));
  renameSync(tmp, path);
}

export function loadSafetensors(path: string) {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}
