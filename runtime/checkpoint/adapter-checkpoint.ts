// Checkpoints written by earlier versions of Lily (one safetensors file whose `lily_paths` metadata
// maps each stored name to our parameter path; 2-D weights stored [out, in]). Adapters are now
// saved as PEFT folders (runtime/peft/); these files keep loading (--base, --resume).
import { SafetensorsError, type NamedTensor } from './safetensors-codec.ts';
import { transpose2d } from '../peft/layouts.ts';


/** Our parameter paths to values (our layout) from a Lily checkpoint's tensors and metadata. */
export function loadLegacyCheckpoint(tensors: Map<string, NamedTensor>, metadata: Record<string, string>, file: string): Map<string, { shape: number[]; data: Float64Array }> {
  let paths: Record<string, string>;
  try {
    paths = JSON.parse(metadata.lily_paths ?? '');
  } catch {
    throw new SafetensorsError(`${file}: its lily_paths metadata is not JSON`);
  }
  const out = new Map<string, { shape: number[]; data: Float64Array }>();
  for (const [stored, t] of tensors) {
    const ours = paths[stored];
    // Never skip a tensor silently: a name the metadata does not map is a damaged or foreign file.
    if (!ours) throw new SafetensorsError(`${file}: tensor '${stored}' is not in the file's lily_paths metadata (damaged, or written by another tool)`);
    out.set(ours, transpose2d({ shape: t.shape, data: Float64Array.from(t.data) }));
  }
  return out;
}
