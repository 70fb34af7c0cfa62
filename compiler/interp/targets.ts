// Attaching an adapter to a model's Linear layers without editing the model, PEFT's way
// (`target_modules`), and the record of what an instance holds under which PyTorch name.
//
// Matching follows PEFT: a list entry matches a layer whose full path equals it or ends with
// `.entry`; a regular expression must match the whole path. Sharing follows PEFT's Lily: layers
// are grouped by (the entry they matched, their base shape) — for a regular expression, by their
// last path component and shape — and visited in model order; a parameter `shared across layers`
// is the first layer's, `shared every k layers` is layer k·⌊i/k⌋'s.

/** An adapter to attach to every matching Linear layer of a model. */
export interface TargetAttachment {
  /** The adapter's name (an adapter declared in the checked program). */
  adapter: string;
  /** Its hyper-parameters (r, E, stride, scale, alpha, …). */
  settings: Record<string, number | boolean>;
  /** PEFT's `target_modules`: path suffixes, or a regular expression matched against the whole path. */
  targets: string[] | RegExp;
  /** PEFT's `exclude_modules`, matched the same way. */
  exclude?: string[] | RegExp;
}

/** Parse the CLI/config spelling: `q,v` or `re:blocks\.\d+\.(q|v)`. */
export function parseTargets(text: string): string[] | RegExp {
  if (text.startsWith('re:')) return new RegExp(`^(?:${text.slice(3)})$`);
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** The sharing-group entry a layer path matches, or undefined. */
export function matchTarget(targets: string[] | RegExp, path: string): string | undefined {
  if (targets instanceof RegExp) return targets.test(path) ? path.split('.').at(-1) : undefined;
  return targets.find((t) => path === t || path.endsWith(`.${t}`));
}

/** PEFT's spelling of targets in adapter_config.json: a list, or a regular-expression string. */
export function targetsForConfig(targets: string[] | RegExp): string[] | string {
  return targets instanceof RegExp ? targets.source.replace(/^\^\(\?:/, '').replace(/\)\$$/, '') : [...targets];
}

/** One adapted Linear layer, in model order. */
export interface AdaptedLayer {
  /** The layer's module path (`blocks.0.fc`; `base` for a stand-alone adapter). */
  layer: string;
  adapter: string;
  /** Its sharing group (target entry + shape, or the `repeat` template path). */
  group: string;
  In: number;
  Out: number;
  /** The adapter's parameters: declared name → IR leaf path (shared ones are one leaf). */
  params: Map<string, string>;
  /** The adapter's resolved hyper-parameters. */
  settings: Record<string, number | boolean>;
}

/** A frozen/base tensor and its PyTorch state-dict name. */
export interface BaseWeight {
  leaf: string;
  torch: string;
  /** Linear weights are [In, Out] here and [out, in] in PyTorch. */
  transpose: boolean;
}

/** What an instance holds, by PyTorch name: filled in while instantiating. */
export interface ModuleRecord {
  weights: BaseWeight[];
  adapted: AdaptedLayer[];
  /** Modules of the base trained as a whole beside the adapters (PEFT's modules_to_save), by path. */
  trained: string[];
}

export const emptyRecord = (): ModuleRecord => ({ weights: [], adapted: [], trained: [] });
