// A model with adapters attached — or an adapter on its own frozen layer — as the library's loader
// (`loadModel` / `loadPeft` in lily-lang/node) returns it, and PEFT's two files for it:
// `encodePeft` turns trained values into adapter_model.safetensors + adapter_config.json exactly as
// `lily train --save` writes them; `decodePeft` reads such files (or PEFT's own) back onto the
// model's adapted layers. Browser-safe: bytes in, bytes out.
import type { CheckedProgram } from '../../compiler/check/check.ts';
import type { ModuleRecord, TargetAttachment } from '../../compiler/interp/targets.ts';
import type { Tensor } from '../tensor/index.ts';
import { commonSettings, decodeAdapterTensors, encodeAdapterFolder, PeftFormatError, type FolderSpec } from './folder.ts';
import type { Dense } from './layouts.ts';
import { LILY_PROGRAM_TYPE, methodForConfig, unsupportedFields } from './methods.ts';

/** A model with adapters attached, its frozen weights and what saving it as a PEFT folder needs. */
export interface AdaptedModel {
  /** The checked program: the model's file, the adapter's, and what they import. */
  checked: CheckedProgram;
  /** The model (or stand-alone adapter) to run and train. */
  entry: string;
  /** Sizes and hyper-parameters (without the batch size N). */
  settings: Record<string, number | boolean>;
  /** The adapter attached to the model's Linear layers by PEFT's target_modules, if any. */
  attach?: TargetAttachment;
  /** Values by leaf path that replace the initialisers: base weights, and adapter values from a PEFT folder. */
  given: Map<string, Tensor>;
  /** Base weights under their PyTorch names, and every adapted layer with its parameters' leaves. */
  record: ModuleRecord;
  /** Every leaf's shape. */
  shapes: Map<string, number[]>;
  /** How the adapters are saved: PEFT's method (LoRA, DoRA, Lily…), or a Lily program. */
  spec?: FolderSpec;
  /** Base modules trained whole beside the adapters (PEFT's modules_to_save). */
  trainable?: string[];
  /** Every leaf's value: given, else as initialised. */
  value(leaf: string): Tensor;
}

/** A PEFT adapter folder's two files. */
export interface PeftFiles {
  /** adapter_model.safetensors */
  weights: Uint8Array;
  /** adapter_config.json (text, or already parsed) */
  config: string | Record<string, unknown>;
}

/** Trained values by leaf path (`trainer.namedParameters()`); leaves not listed keep the model's values. */
export type TrainedValues = Map<string, Dense>;

/**
 * The options `compileTraining` needs to train this model's adapters: spread them into its options
 * and add the backend, optimiser, loss…
 * @example
 * ```ts
 * const trainer = await compileTraining(model.checked, model.entry, { ...trainingOptions(model, 32), backend: cpuBackend() });
 * ```
 * @param batch the batch size (rows of x, the size N)
 */
export function trainingOptions(model: AdaptedModel, batch: number) {
  return { dims: { ...model.settings, N: batch }, given: model.given, attach: model.attach, trainable: model.trainable };
}

/**
 * PEFT's adapter folder for a model's adapters, as PEFT's `save_pretrained` writes it: PEFT's own
 * format for PEFT's methods (LoRA/rsLoRA, DoRA, Lily), else a Lily program folder (peft_type
 * LILY_PROGRAM, the source embedded), which Lily loads back and PEFT refuses rather than misreads.
 * @param trained the trained values by leaf path (`await trainer.namedParameters()`); other leaves
 *   keep the model's values
 * @throws {PeftFormatError} when the model has no adapters attached
 */
export function encodePeft(model: AdaptedModel, trained: TrainedValues = new Map()): { weights: Uint8Array; config: string } {
  if (!model.spec || !model.record.adapted.length) throw new PeftFormatError(`${model.entry} has no adapters attached: there is nothing to save as a PEFT adapter folder`);
  return encodeAdapterFolder(model.spec, model.record.adapted, (leaf) => trained.get(leaf) ?? model.value(leaf));
}

/**
 * Read a PEFT adapter folder's files onto this model's adapted layers: the adapter values by leaf
 * path, to pass as `given` (merge them into `model.given`). Stricter than PEFT: a folder of another
 * method or other hyper-parameters, a missing, unexpected or wrongly shaped tensor, or unequal
 * copies of a shared tensor is a `PeftFormatError` listing every problem in `details`.
 * @param name how the folder is named in messages
 */
export function decodePeft(model: AdaptedModel, files: PeftFiles, name = 'adapter'): Map<string, Tensor> {
  if (!model.spec || !model.record.adapted.length) throw new PeftFormatError(`${model.entry} has no adapters attached: a PEFT adapter folder has nothing to load onto`);
  let config: Record<string, unknown>;
  try {
    config = typeof files.config === 'string' ? JSON.parse(files.config) : files.config;
  } catch (e) {
    throw new PeftFormatError(`${name}/adapter_config.json is not valid JSON: ${(e as Error).message}`);
  }
  const ours = model.spec.method;
  const settings = commonSettings(model.record.adapted);
  if (config.peft_type === LILY_PROGRAM_TYPE) {
    if (ours) throw new PeftFormatError(`${name} holds a Lily program adapter; ${model.entry}'s adapters are PEFT's ${ours.name}`);
  } else {
    const theirs = methodForConfig(config);
    if (typeof theirs === 'string') throw new PeftFormatError(`${name}/adapter_config.json: ${theirs}`);
    if (theirs !== ours) throw new PeftFormatError(`${name} holds a PEFT ${theirs.name} adapter; ${model.entry}'s adapters ${ours ? `are PEFT's ${ours.name}` : `(${model.record.adapted[0].adapter}) do not compute PEFT's ${theirs.name}`}`);
    if (typeof settings === 'string') throw new PeftFormatError(`${name}: ${settings}`);
    // The same formula only with the same hyper-parameters (alpha scales the output, r and E set shapes).
    const differ = theirs.hypers.filter((h) => (config[h.peft] ?? h.default) !== (settings[h.ours] ?? h.default)).map((h) => `${h.peft} = ${JSON.stringify(config[h.peft] ?? h.default)} in the folder, ${h.ours} = ${settings[h.ours] ?? h.default} here`);
    const unsupported = unsupportedFields(theirs, config);
    if (unsupported.length) throw new PeftFormatError(`${name} switches on PEFT features Lily's ${theirs.adapter} does not compute`, unsupported);
    if (differ.length) throw new PeftFormatError(`${name} was saved with other hyper-parameters than ${model.entry}'s adapters`, differ);
  }
  const values = decodeAdapterTensors(model.spec, model.record.adapted, files.weights, `${name}/adapter_model.safetensors`, (leaf) => model.shapes.get(leaf)!, (leaf) => model.value(leaf));
  return new Map([...values].map(([leaf, v]) => [leaf, { shape: v.shape, data: v.data }]));
}
