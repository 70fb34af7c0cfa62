// A model with adapters attached, without files (browser-safe): `adaptModel` instantiates the
// program once to learn its adapted layers, leaves and shapes, and decides how the adapters are
// saved (`folderSpec`: PEFT's own format where they compute a PEFT method's formula, else a Lily
// program). The Node loader (compiler/cli/model-setup.ts) decides the same way, through the same code.
import type { CheckedProgram } from '../../compiler/check/check.ts';
import { instantiate } from '../../compiler/interp/instance.ts';
import { emptyRecord, targetsForConfig, type AdaptedLayer, type ModuleRecord, type TargetAttachment } from '../../compiler/interp/targets.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import { GraphOps } from '../../compiler/ir/graph-ops.ts';
import type { Tensor } from '../tensor/index.ts';
import type { AdaptedModel } from './adapted.ts';
import type { FolderSpec } from './folder.ts';
import { methodOfLayers } from './identify.ts';
import { PEFT_METHODS, type PeftMethod } from './methods.ts';

export interface FolderSpecOptions {
  /** The adapter's source, embedded when it is saved as a Lily program (sha256: hex of the source's SHA-256). */
  program?: { file: string; source: string; sha256: string };
  /** The model (for auto_mapping: its name, and the file it comes from); absent for an adapter on its own layer. */
  model?: { name: string; library: string };
  /** The stdlib adapter each PEFT method is checked against (stdlib/adapters/lora.lily, …, checked). */
  reference: (m: PeftMethod) => CheckedProgram;
  /** The attachment by target_modules, if the adapters were attached so. */
  attach?: TargetAttachment;
}

/** How adapters are saved: PEFT's own format where the adapter is a PEFT method, else a Lily program. */
export function folderSpec(checked: CheckedProgram, record: ModuleRecord, o: FolderSpecOptions): FolderSpec {
  const method = methodOfLayers(checked, record.adapted, o.reference);
  const derived = o.attach ? { targets: targetsForConfig(o.attach.targets), faithful: true } : derivedTargets(record);
  const where = { targets: derived.targets, modelClass: o.model?.name ?? 'Linear', library: o.model?.library ?? 'torch.nn' };
  if (method && derived.faithful) return { method, ...where };
  return { ...where, program: o.program };
}

/**
 * PEFT's target_modules for adapters attached in the source: each adapted layer's last path
 * component, where every Linear layer with that name is adapted and forms one sharing group;
 * otherwise the full paths (then PEFT's Lily would not share across them: not faithful for Lily).
 */
function derivedTargets(record: ModuleRecord): { targets: string[]; faithful: boolean } {
  const linears = record.weights.filter((w) => w.transpose).map((w) => w.torch.replace(/\.weight$/, ''));
  const byName = new Map<string, AdaptedLayer[]>();
  for (const l of record.adapted) {
    const name = l.layer.split('.').at(-1)!;
    byName.set(name, [...(byName.get(name) ?? []), l]);
  }
  const targets: string[] = [];
  let faithful = true;
  for (const [name, layers] of byName) {
    const all = linears.filter((p) => p === name || p.endsWith(`.${name}`));
    const groups = new Set(layers.map((l) => l.group));
    const shapes = new Set(layers.map((l) => `${l.In}x${l.Out}`));
    if (all.length === layers.length && groups.size === shapes.size) targets.push(name);
    else {
      targets.push(...layers.map((l) => l.layer));
      if (layers.length > 1 && PEFT_METHODS.some((m) => m.adapter === layers[0].adapter && m.name === 'lily')) faithful = false;
    }
  }
  return { targets, faithful };
}

export interface AdaptOptions extends Omit<FolderSpecOptions, 'attach'> {
  /** Sizes and hyper-parameters (without the batch size N). */
  settings: Record<string, number | boolean>;
  /** Attach an adapter to the model's Linear layers by PEFT's target_modules. */
  attach?: TargetAttachment;
  /** Base layers trained whole beside the adapters (PEFT's modules_to_save). */
  trainable?: string[];
  /** Values by leaf path that replace the initialisers (base weights, adapter values). */
  given?: Map<string, Tensor>;
  seed?: number;
}

/**
 * A model (or a stand-alone adapter) with its adapters, without files: what `encodePeft`,
 * `decodePeft` and `trainingOptions` take. In Node, `loadModel` / `loadPeft` also read the
 * files (the .lily source, base weights, a PEFT folder).
 * @example
 * ```ts
 * const lora = checkSources([{ file: 'lora.lily', source: loraText }]);
 * const model = adaptModel(program, 'MLP', { settings: {}, attach: { adapter: 'LoRA', settings: { r: 4, alpha: 8 }, targets: [{ name: 'fc1' }] }, reference: () => lora });
 * const { weights, config } = encodePeft(model, await trainer.namedParameters());
 * ```
 * @throws {LilyError} for sizes or names that do not fit the program
 */
export function adaptModel(checked: CheckedProgram, entry: string, o: AdaptOptions): AdaptedModel {
  const record = emptyRecord();
  const ops = new GraphOps(new Graph());
  instantiate(checked, entry, { settings: o.settings, ops, attach: o.attach, record, trainable: o.trainable, seed: o.seed });
  const shapes = new Map([...ops.values].map(([k, t]) => [k, t.shape]));
  const given = o.given ?? new Map<string, Tensor>();
  const modulesToSave = o.trainable ? { names: o.trainable, weights: record.weights.filter((w) => record.trained.some((p) => w.leaf.startsWith(`${p}.`))) } : undefined;
  const spec = record.adapted.length ? { ...folderSpec(checked, record, o), modulesToSave } : undefined;
  const value = (leaf: string): Tensor => {
    const v = given.get(leaf) ?? ops.values.get(leaf);
    if (!v) throw new Error(`no tensor '${leaf}' in ${entry}`);
    return v;
  };
  return { checked, entry, settings: o.settings, attach: o.attach, given, record, shapes, spec, trainable: o.trainable, value };
}
