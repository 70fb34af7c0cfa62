// The methods `lily compare` trains, one record each: how to attach them to a model, and which
// hyper-parameter sets their size (the budget search turns that knob). A researcher's own adapter
// (`file.lily:Adapter`) enters through the same record.
import { fail } from '../../diagnostics.ts';
import type { CheckedProgram } from '../../check/check.ts';
import { countParams } from '../../params.ts';
import type { TargetAttachment } from '../../interp/targets.ts';
import { setupModel, type ModelSetup } from '../model-setup.ts';

export interface MethodSpec {
  /** As written in --methods. */
  name: string;
  /** The stdlib or user adapter attached to the targets; none for linear-probe and full. */
  adapter?: string;
  adapterFile?: string;
  /** Hyper-parameters besides the size knob (LoRA's alpha follows r: scale alpha / r = 1). */
  fixed: Record<string, number | boolean>;
  /** The integer hyper-parameter that sets the size, if any. */
  knob?: string;
  /** Settings derived from the knob's value. */
  derive?: (k: number) => Record<string, number | boolean>;
  /** 'adapters' (targets frozen, adapters and the head trained), 'head' only, or 'all' weights. */
  trains: 'adapters' | 'head' | 'all';
}

const BUILTIN: Record<string, Omit<MethodSpec, 'name'>> = {
  lora: { adapter: 'LoRA', fixed: {}, knob: 'r', derive: (r) => ({ alpha: r }), trains: 'adapters' },
  lily: { adapter: 'Lily', fixed: { E: 4 }, knob: 'r', trains: 'adapters' },
  moslora: { adapter: 'MoSLoRA', fixed: {}, knob: 'r', derive: (r) => ({ alpha: r }), trains: 'adapters' },
  dora: { adapter: 'DoRA', fixed: {}, knob: 'r', derive: (r) => ({ alpha: r }), trains: 'adapters' },
  'linear-probe': { fixed: {}, trains: 'head' },
  full: { fixed: {}, trains: 'all' },
};

export const METHOD_NAMES = [...Object.keys(BUILTIN), 'FILE.lily:Adapter'];

/** Parse one --methods entry; `lily:E=8` overrides a fixed hyper-parameter. */
export function parseMethod(text: string): MethodSpec {
  const custom = /^(.+\.lily):([A-Za-z_]\w*)$/.exec(text);
  if (custom) return { name: text, adapter: custom[2], adapterFile: custom[1], fixed: {}, knob: 'r', trains: 'adapters' };
  const b = BUILTIN[text.toLowerCase()];
  if (!b) fail('E-usage', `unknown method '${text}' in --methods`, undefined, { expected: METHOD_NAMES.join(', ') });
  return { name: text.toLowerCase(), ...b! };
}

export interface PreparedMethod {
  spec: MethodSpec;
  setup: ModelSetup;
  attach?: TargetAttachment;
  /** Base layers trained whole beside the adapters (PEFT's modules_to_save: the head). */
  trainable?: string[];
  /** The knob's chosen value and the resulting hyper-parameters. */
  chosen: Record<string, number | boolean>;
  trainableParams: number;
  /** Within 5% of the budget (always true for linear-probe and full: they have one size). */
  withinBudget: boolean;
}

export interface CompareModel {
  file: string;
  model: string;
  base?: string;
  targets: string;
  head: string;
}

/** How a method attaches: adapters on the targets, or (linear-probe) an attachment matching no layer, which freezes the base. */
function attachmentFor(setup: ModelSetup, spec: MethodSpec, settings: Record<string, number | boolean>): TargetAttachment | undefined {
  if (spec.trains === 'all') return undefined;
  if (spec.trains === 'head') return { adapter: '', settings: {}, targets: [] };
  return { ...setup.attach!, settings };
}

const trainableCount = (checked: CheckedProgram, setup: ModelSetup, attach: TargetAttachment | undefined, trainable: string[] | undefined) =>
  countParams(checked, checked.units.get(setup.entry)!, setup.settings, 1, attach, trainable).trainable;

/**
 * Load the model for a method and choose its size: the knob's value whose trainable count
 * (adapters plus the head, counted as the compiled program holds them) is closest to the budget.
 */
export function prepareMethod(spec: MethodSpec, m: CompareModel, budget: number | undefined): PreparedMethod {
  const flags = spec.adapter ? { model: m.model, adapter: spec.adapter, adapterFile: spec.adapterFile, targetModules: m.targets, base: m.base } : { model: m.model, base: m.base };
  const setup = setupModel(m.file, flags);
  const checked = setup.checked;
  const settingsFor = (k?: number) => ({ ...spec.fixed, ...(k !== undefined && spec.knob ? { [spec.knob]: k, ...(spec.derive?.(k) ?? {}) } : {}) });
  const hasKnob = spec.knob !== undefined && spec.adapter !== undefined && checked.units.get(spec.adapter)?.decl.hypers.some((h) => h.name === spec.knob);
  const trainable = spec.trains === 'all' ? undefined : m.head.split(',').filter(Boolean);
  const countAt = (k?: number) => trainableCount(checked, setup, attachmentFor(setup, spec, settingsFor(k)), trainable);
  let k: number | undefined;
  if (hasKnob && budget !== undefined) {
    // Counts grow with the knob: double until past the budget, then bisect for the closest value.
    let lo = 1;
    let hi = 1;
    while (countAt(hi) < budget && hi < 4096) [lo, hi] = [hi, hi * 2];
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (countAt(mid) < budget) lo = mid;
      else hi = mid;
    }
    k = Math.abs(countAt(lo) - budget) <= Math.abs(countAt(hi) - budget) ? lo : hi;
  }
  const chosen = settingsFor(k);
  const attach = attachmentFor(setup, spec, chosen);
  const count = trainableCount(checked, setup, attach, trainable);
  // linear-probe and full have one size each; an adapter without the knob is reported as it is.
  return { spec, setup, attach, trainable, chosen, trainableParams: count, withinBudget: budget === undefined || spec.trains !== 'adapters' || Math.abs(count - budget) <= 0.05 * budget };
}
