// An adapter as PEFT's `save_pretrained` writes it — adapter_model.safetensors (keys
// `base_model.model.<module path>.<tensor>`, PEFT's layouts, one full copy of a shared tensor per
// layer) and adapter_config.json (every field of PEFT's config class, sorted, indent 2, no final
// newline) — and back. Adapters PEFT does not have are written the same way as a Lily program:
// peft_type LILY_PROGRAM (which PEFT refuses rather than misreads), the .lily source embedded, keys
// `<module path>.<Adapter>.<param>` in Lily's layout. Browser-safe: bytes in, bytes out.
import type { AdaptedLayer, BaseWeight } from '../../compiler/interp/targets.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../checkpoint/safetensors-codec.ts';
import { LAYOUTS, peftShape, type Dense } from './layouts.ts';
import { LILY_PROGRAM_TYPE, PEFT_FORMAT_VERSION, type Layout, type PeftMethod } from './methods.ts';

export const KEY_PREFIX = 'base_model.model.';
export const WEIGHTS_FILE = 'adapter_model.safetensors';
export const CONFIG_FILE = 'adapter_config.json';

export class PeftFormatError extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

/** What is saved besides the tensors. */
export interface FolderSpec {
  /** The PEFT method, or undefined for a Lily program. */
  method?: PeftMethod;
  /** PEFT's target_modules as written (a list, or a regular-expression string). */
  targets: string[] | string;
  /** For auto_mapping: the base model's class and where it is defined. */
  modelClass: string;
  library: string;
  /** A Lily program: the adapter's source file and text, embedded so the folder loads anywhere. */
  program?: { file: string; source: string; sha256: string };
  /**
   * Base modules trained whole beside the adapters (PEFT's modules_to_save): the names as given, and
   * their weights, stored under `base_model.model.<PyTorch name>` in PyTorch's layout.
   */
  modulesToSave?: { names: string[]; weights: BaseWeight[] };
}

/** One tensor of one adapted layer: its file key, our leaf, and the layout between them. */
interface Slot {
  key: string;
  leaf: string;
  /** The adapted layer (for the magnitude layout); absent for a trained base module's weight. */
  layer?: AdaptedLayer;
  layout: Layout;
}

function slots(spec: Pick<FolderSpec, 'method' | 'modulesToSave'>, adapted: AdaptedLayer[]): Slot[] {
  const adapters = adapted.flatMap((layer): Slot[] =>
    spec.method
      ? spec.method.tensors.map((t) => ({ key: `${KEY_PREFIX}${layer.layer}.${t.key}`, leaf: layer.params.get(t.param)!, layer, layout: t.layout }))
      : [...layer.params].map(([param, leaf]) => ({ key: `${KEY_PREFIX}${layer.layer}.${layer.adapter}.${param}`, leaf, layer, layout: 'same' as Layout })),
  );
  const whole = (spec.modulesToSave?.weights ?? []).map((w): Slot => ({ key: `${KEY_PREFIX}${w.torch}`, leaf: w.leaf, layout: w.transpose ? 'transpose' : 'same' }));
  return [...adapters, ...whole];
}

/** The frozen weight of an adapted layer, by our leaf name (`fc1.W`; `base.W` stand-alone). */
const baseLeaf = (layer: AdaptedLayer | undefined) => `${layer!.layer}.W`;

/** Hyper-parameters common to every adapted layer (PEFT's config holds one set), or a reason. */
export function commonSettings(adapted: AdaptedLayer[]): Record<string, number | boolean> | string {
  const first = adapted[0];
  for (const l of adapted.slice(1)) {
    if (l.adapter !== first.adapter) return `layers ${first.layer} and ${l.layer} carry different adapters (${first.adapter}, ${l.adapter})`;
    const a = JSON.stringify(first.settings);
    if (JSON.stringify(l.settings) !== a) return `layers ${first.layer} and ${l.layer} use different hyper-parameters (${a} vs ${JSON.stringify(l.settings)})`;
  }
  return first.settings;
}

/** Python's json.dumps(sort_keys=True): keys sorted at every level. */
const sortKeys = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(sortKeys) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])])) : v;

export function adapterConfig(spec: FolderSpec, adapted: AdaptedLayer[]): Record<string, unknown> {
  const auto_mapping = { base_model_class: spec.modelClass, parent_library: spec.library };
  const settings = commonSettings(adapted);
  if (spec.method) {
    if (typeof settings === 'string') throw new PeftFormatError(`cannot write a ${spec.method.peftType} config: ${settings}`);
    const hypers = Object.fromEntries(spec.method.hypers.map((h) => [h.peft, settings[h.ours]]));
    return { ...spec.method.defaults, ...spec.method.variant, ...hypers, auto_mapping, peft_type: spec.method.peftType, peft_version: PEFT_FORMAT_VERSION, target_modules: spec.targets, modules_to_save: spec.modulesToSave?.names ?? null };
  }
  return {
    peft_type: LILY_PROGRAM_TYPE,
    task_type: null,
    base_model_name_or_path: null,
    revision: null,
    inference_mode: true,
    auto_mapping,
    target_modules: spec.targets,
    modules_to_save: spec.modulesToSave?.names ?? null,
    lily_program: spec.program,
    // Per adapted layer: the adapter and its hyper-parameters (they may differ between layers).
    layers: Object.fromEntries(adapted.map((l) => [l.layer, { adapter: l.adapter, settings: l.settings }])),
  };
}

/** Encode an adapter folder's two files. `value(leaf)` gives a parameter's or base weight's current value. */
export function encodeAdapterFolder(spec: FolderSpec, adapted: AdaptedLayer[], value: (leaf: string) => Dense): { weights: Uint8Array; config: string } {
  if (!adapted.length) throw new PeftFormatError('nothing to save: no layer has an adapter attached');
  const config = adapterConfig(spec, adapted);
  const tensors = new Map<string, NamedTensor>();
  for (const s of slots(spec, adapted)) {
    const t = LAYOUTS[s.layout].toPeft(value(s.leaf), { baseW: s.layout === 'magnitude' ? value(baseLeaf(s.layer)) : undefined });
    tensors.set(s.key, { shape: t.shape, data: Float32Array.from(t.data) });
  }
  return { weights: encodeSafetensors(tensors, { format: 'pt' }), config: JSON.stringify(sortKeys(config), null, 2) };
}

/**
 * Decode an adapter folder's tensors onto the adapted layers: our leaf → value. Stricter than PEFT:
 * a missing key, an unexpected key, a shape mismatch or unequal copies of a shared tensor is an error
 * listing every such key. `shapeOf(leaf)` gives our shape; `value(leaf)` the base weights (DoRA).
 */
export function decodeAdapterTensors(
  spec: Pick<FolderSpec, 'method' | 'modulesToSave'>,
  adapted: AdaptedLayer[],
  bytes: Uint8Array,
  file: string,
  shapeOf: (leaf: string) => number[],
  value: (leaf: string) => Dense,
): Map<string, { shape: number[]; data: Float64Array }> {
  const { tensors } = decodeSafetensors(bytes, file);
  const out = new Map<string, { shape: number[]; data: Float64Array; from: string }>();
  const missing: string[] = [];
  const wrongShape: string[] = [];
  const unequal: string[] = [];
  const used = new Set<string>();
  for (const s of slots(spec, adapted)) {
    const t = tensors.get(s.key);
    const ours = shapeOf(s.leaf);
    const want = peftShape(s.layout, ours);
    if (!t) {
      missing.push(`${s.key} [${want}]`);
      continue;
    }
    used.add(s.key);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      wrongShape.push(`${s.key}: [${t.shape}] in the file, [${want}] expected`);
      continue;
    }
    const back = LAYOUTS[s.layout].fromPeft(t, ours, { baseW: s.layout === 'magnitude' ? value(baseLeaf(s.layer)) : undefined });
    const data = Float64Array.from(back.data);
    const prev = out.get(s.leaf);
    // PEFT writes one full copy of a shared tensor per layer: they must agree.
    if (prev) {
      const worst = prev.data.reduce((m, v, i) => Math.max(m, Math.abs(v - data[i])), 0);
      if (worst > 0) unequal.push(`${prev.from} and ${s.key} are copies of one shared tensor but differ (max |Δ| = ${worst.toPrecision(3)})`);
      continue;
    }
    out.set(s.leaf, { shape: ours, data, from: s.key });
  }
  const unexpected = [...tensors.keys()].filter((k) => !used.has(k));
  const problems = [
    ...(missing.length ? [`missing ${missing.length} key(s): ${missing.join(', ')}`] : []),
    ...(unexpected.length ? [`unexpected ${unexpected.length} key(s): ${unexpected.join(', ')}`] : []),
    ...wrongShape.map((w) => `shape mismatch: ${w}`),
    ...unequal,
  ];
  if (problems.length) throw new PeftFormatError(`${file} does not fit the adapted layers (${adapted.map((l) => l.layer).join(', ')})`, problems);
  return new Map([...out].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
}
