// The library's way to what `lily train --target-modules … --save DIR` and `--peft DIR` do (Node:
// files): load a model with an adapter attached (`loadModel`), load a PEFT adapter folder onto a
// model (`loadPeft`), save trained adapters as one (`savePeft`). Loading goes through the CLI's one
// loader (compiler/cli/model-setup.ts), so the library and the CLI read the same files the same way.
import { setupModel, type ModelFlags, type ModelSetup } from '../../compiler/cli/model-setup.ts';
import type { Trainer } from '../train.ts';
import { encodePeft, type TrainedValues } from './adapted.ts';
import { writeAdapterFolder } from './node.ts';

/** What to load: the model, the adapter to attach and where, the base weights. */
export interface ModelOptions {
  /** The model in the file to run and train; omit it to train an adapter on its own frozen layer (`adapter`, with `dims` In, Out). */
  model?: string;
  /** The adapter to attach: a PEFT method's name (`lora`, `dora`, `lily`), a stdlib adapter (`LoRA`, `MoSLoRA`, …) or one in the file or `adapterFile`. */
  adapter?: string;
  /** Take `adapter` from this .lily file. */
  adapterFile?: string;
  /** PEFT's target_modules: layer names (`['q', 'v']`: every Linear layer whose path ends so) or `'re:REGEX'` on whole paths. */
  targetModules?: string | string[];
  /** The attached adapter's hyper-parameters, e.g. `{ r: 8, alpha: 16 }`. */
  hparams?: Record<string, number | boolean>;
  /** Sizes and hyper-parameters of the model (or of a stand-alone adapter: `{ In: 64, Out: 64, r: 4 }`). */
  dims?: Record<string, number | boolean>;
  /** The model's frozen weights: a PyTorch state dict (.safetensors, or a folder with model.safetensors[.index.json]) under PyTorch's names. */
  base?: string;
  /** Rename the `base` file's tensors first: `PATTERN=REPLACEMENT` regular expressions. */
  baseMap?: string[];
  /** A `base` tensor the model does not use is an error. */
  strict?: boolean;
  /** Base layers trained whole beside the adapters (PEFT's modules_to_save), e.g. `['head']`. */
  trainable?: string | string[];
}

/** A loaded model: the AdaptedModel that encodePeft/decodePeft/trainingOptions take, plus what was loaded (one line each, in `notes`). */
export type LoadedModel = ModelSetup;

const list = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(',') : v);
const settings = (v: Record<string, number | boolean> | undefined) => (v ? Object.entries(v).map(([k, x]) => `${k}=${x}`).join(',') : undefined);

function flags(o: ModelOptions, peft?: string): ModelFlags {
  return { model: o.model, adapter: o.adapter, adapterFile: o.adapterFile, targetModules: list(o.targetModules), hparams: settings(o.hparams), dims: settings(o.dims), base: o.base, baseMap: o.baseMap, strict: o.strict, trainable: list(o.trainable), peft };
}

/**
 * Load a .lily file's model with an adapter attached to its Linear layers by PEFT's target_modules
 * (or an adapter on its own frozen layer), its frozen weights from a PyTorch state dict.
 * @example
 * ```ts
 * const model = loadModel('mlp.lily', { model: 'MLP', adapter: 'lora', targetModules: ['fc1', 'fc2'], hparams: { r: 4, alpha: 8 }, base: 'base.safetensors' });
 * const trainer = await compileTraining(model.checked, model.entry, { ...trainingOptions(model, 32), backend: cpuBackend() });
 * ```
 * @throws {LilyError} for a file, name, flag or weight that does not fit (code, message, file:line:col)
 */
export function loadModel(file: string, options: ModelOptions): LoadedModel {
  return setupModel(file, flags(options));
}

/**
 * Load a PEFT adapter folder (written by PEFT's `save_pretrained`, by `savePeft` or by `lily train
 * --save`) onto a .lily file's model: the method, hyper-parameters and target_modules come from the
 * folder's adapter_config.json, the adapter values land in `model.given`. Train on from them with
 * `trainingOptions(model, N)`, or run the model with `runEntry(model.checked, model.entry, { settings,
 * given: model.given, attach: model.attach, … })`.
 * @param options the model (`model`), its base weights (`base`), and anything else as for loadModel;
 *   options that contradict the folder are errors
 * @throws {LilyError} `E-file` for a folder that does not fit the model, listing every problem
 */
export function loadPeft(dir: string, file: string, options: ModelOptions = {}): LoadedModel {
  return setupModel(file, flags(options, dir));
}

/**
 * Save a model's trained adapters as a PEFT adapter folder (adapter_model.safetensors +
 * adapter_config.json, each written atomically), as PEFT's `save_pretrained` would: PEFT loads it
 * with `PeftModel.from_pretrained` where the adapter is one of PEFT's methods (else a Lily program
 * folder, which Lily loads back). An existing adapter in `dir` is replaced, as PEFT does.
 * @param trained the trainer (its current parameters are saved) or trained values by leaf path
 * @returns the folder
 * @throws {PeftFormatError} when the model has no adapters attached, or a file cannot be written
 */
export async function savePeft(dir: string, model: LoadedModel, trained: Trainer | TrainedValues): Promise<string> {
  const values = trained instanceof Map ? trained : await trained.namedParameters();
  return writeAdapterFolder(dir, encodePeft(model, values));
}
