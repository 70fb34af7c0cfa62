// A model's frozen weights from a PyTorch state dict (`fc1.weight` [out, in], `fc1.bias`,
// `ln.weight`/`ln.bias`, a model's own params by path), as ModuleRecord.weights names them;
// `--base-map` renames the file's names first (another naming scheme, e.g. a BERT checkpoint's).
// Browser-safe: tensors in, our leaves out.
import type { BaseWeight } from '../../compiler/interp/targets.ts';
import type { NamedTensor } from '../checkpoint/safetensors-codec.ts';
import { PeftFormatError } from './folder.ts';
import { transpose2d } from './layouts.ts';

export interface Rename {
  pattern: RegExp;
  replacement: string;
}

/** `PATTERN=REPLACEMENT` (a regular expression and its replacement, `$1` for groups). */
export function parseRename(text: string): Rename | string {
  const eq = text.indexOf('=');
  if (eq < 1) return `expected PATTERN=REPLACEMENT, found '${text}'`;
  try {
    return { pattern: new RegExp(text.slice(0, eq)), replacement: text.slice(eq + 1) };
  } catch (e) {
    return `'${text.slice(0, eq)}' is not a regular expression: ${(e as Error).message}`;
  }
}

export interface BaseLoad {
  given: Map<string, { shape: number[]; data: Float64Array }>;
  /** File names (after renaming) that no model weight used. */
  unused: string[];
}

/** Edit distance, for "did you mean" lists. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

export const closest = (name: string, names: string[], k = 3) =>
  names
    .map((n) => [n, distance(name, n)] as const)
    .sort((a, b) => a[1] - b[1])
    .slice(0, k)
    .map(([n]) => n);

/**
 * Map a state dict onto the model's base weights. Every model weight must be found with the right
 * shape (an error lists each missing one with the closest names in the file); names left over are
 * returned as `unused`.
 */
export function mapBaseWeights(weights: BaseWeight[], tensors: Map<string, NamedTensor>, file: string, renames: Rename[], shapeOf: (leaf: string) => number[]): BaseLoad {
  const renamed = new Map<string, NamedTensor>();
  for (const [name, t] of tensors) renamed.set(renames.reduce((n, r) => n.replace(r.pattern, r.replacement), name), t);
  const names = [...renamed.keys()];
  const given = new Map<string, { shape: number[]; data: Float64Array }>();
  const used = new Set<string>();
  const missing: string[] = [];
  const wrong: string[] = [];
  const unique = [...new Map(weights.map((w) => [w.leaf, w])).values()];
  for (const w of unique) {
    const t = renamed.get(w.torch);
    const ours = shapeOf(w.leaf);
    const want = w.transpose ? [ours[1], ours[0]] : ours;
    if (!t) {
      missing.push(`${w.torch} [${want}]${names.length ? ` (closest in the file: ${closest(w.torch, names).join(', ')})` : ''}`);
      continue;
    }
    used.add(w.torch);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      wrong.push(`${w.torch}: [${t.shape}] in the file, [${want}] expected`);
      continue;
    }
    const wide = { shape: [...t.shape], data: Float64Array.from(t.data) };
    given.set(w.leaf, w.transpose ? transpose2d(wide) : wide);
  }
  if (!used.size && unique.length)
    throw new PeftFormatError(`${file} holds none of the model's ${unique.length} weights`, [`the model needs e.g. ${unique.slice(0, 4).map((w) => w.torch).join(', ')}`, `the file has e.g. ${names.slice(0, 4).join(', ') || 'no tensors'}`, 'rename with --base-map PATTERN=REPLACEMENT if the file uses another naming scheme']);
  if (missing.length || wrong.length) throw new PeftFormatError(`${file} does not fit the model`, [...missing.map((m) => `missing ${m}`), ...wrong.map((w) => `shape mismatch: ${w}`)]);
  return { given, unused: names.filter((n) => !used.has(n)) };
}
