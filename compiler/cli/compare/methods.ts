// The methods `lily compare` trains, one record each: how to attach them to a model, and what
// follows from their sizes (the budget search in sizing.ts sizes every adapter the same way, by its
// Dim hyper-parameters). A researcher's own adapter (`file.lily:Adapter`) enters through the same record.
import { fail } from '../../diagnostics.ts';
import type { CheckedProgram } from '../../check/check.ts';
import { countParams } from '../../params.ts';
import type { TargetAttachment } from '../../interp/targets.ts';
import { setupModel, type ModelSetup } from '../model-setup.ts';
import { BUDGET_TOLERANCE, chooseSizes, type Knob } from './sizing.ts';

export interface MethodSpec {
  /** As written in --methods. */
  name: string;
  /** The stdlib or user adapter attached to the targets; none for linear-probe and full. */
  adapter?: string;
  adapterFile?: string;
  /** Hyper-parameters set by the user (`lily:E=4`): not searched. */
  fixed: Record<string, number | boolean>;
  /** Settings derived from the chosen sizes (LoRA's alpha follows r: scale alpha / r = 1). */
  derive?: (settings: Record<string, number | boolean>) => Record<string, number | boolean>;
  /** 'adapters' (targets frozen, adapters and the head trained), 'head' only, or 'all' weights. */
  trains: 'adapters' | 'head' | 'all';
}

const alphaIsR = (s: Record<string, number | boolean>): Record<string, number | boolean> => (typeof s.r === 'number' ? { alpha: s.r } : {});
const BUILTIN: Record<string, Omit<MethodSpec, 'name' | 'fixed'>> = {
  lora: { adapter: 'LoRA', derive: alphaIsR, trains: 'adapters' },
  lily: { adapter: 'Lily', trains: 'adapters' },
  moslora: { adapter: 'MoSLoRA', derive: alphaIsR, trains: 'adapters' },
  dora: { adapter: 'DoRA', derive: alphaIsR, trains: 'adapters' },
  'linear-probe': { trains: 'head' },
  full: { trains: 'all' },
};

export const METHOD_NAMES = [...Object.keys(BUILTIN), 'FILE.lily:Adapter', 'METHOD:NAME=VALUE (e.g. lily:E=4)'];

/**
 * Parse one --methods entry: a built-in method or `FILE.lily:Adapter`, then optionally `:NAME=VALUE`
 * pairs that fix hyper-parameters (`lily:E=4`; the budget search then sizes the others).
 */
export function parseMethod(text: string): MethodSpec {
  const parts = text.split(':');
  const firstSetting = parts.findIndex((p) => p.includes('='));
  const head = firstSetting < 0 ? parts : parts.slice(0, firstSetting);
  const fixed: Record<string, number | boolean> = {};
  for (const p of firstSetting < 0 ? [] : parts.slice(firstSetting)) {
    const m = /^([A-Za-z_]\w*)=(true|false|-?\d+(?:\.\d+)?(?:e-?\d+)?)$/.exec(p);
    if (!m) fail('E-usage', `--methods ${text}: expected NAME=VALUE after ':', found '${p}'`);
    fixed[m![1]] = m![2] === 'true' ? true : m![2] === 'false' ? false : Number(m![2]);
  }
  if (head.length === 2 && head[0].endsWith('.lily') && /^[A-Za-z_]\w*$/.test(head[1])) return { name: text, adapter: head[1], adapterFile: head[0], fixed, trains: 'adapters' };
  const b = head.length === 1 ? BUILTIN[head[0].toLowerCase()] : undefined;
  if (!b) fail('E-usage', `unknown method '${text}' in --methods`, undefined, { expected: METHOD_NAMES.join(', ') });
  if (b!.trains !== 'adapters' && Object.keys(fixed).length) fail('E-usage', `--methods ${text}: ${head[0]} has no hyper-parameters to set`);
  return { name: firstSetting < 0 ? head[0].toLowerCase() : text, ...b!, fixed };
}

export interface PreparedMethod {
  spec: MethodSpec;
  setup: ModelSetup;
  attach?: TargetAttachment;
  /** Base layers trained whole beside the adapters (PEFT's modules_to_save: the head). */
  trainable?: string[];
  /** The chosen sizes and the resulting hyper-parameters. */
  chosen: Record<string, number | boolean>;
  /** The size knobs the budget search turned, with the defaults whose proportions it preferred. */
  searched: Knob[];
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

/** An adapter's size knobs: its Dim hyper-parameters the user has not fixed, with their defaults. */
export function sizeKnobs(checked: CheckedProgram, adapter: string, fixed: Record<string, unknown>): Knob[] {
  const unit = checked.units.get(adapter);
  if (!unit || unit.decl.kind !== 'adapter') return [];
  return unit.decl.hypers.filter((h) => h.hyper === 'Dim' && !(h.name in fixed)).map((h) => ({ name: h.name, default: h.default?.kind === 'num' ? h.default.value : 1 }));
}

/**
 * Load the model for a method and choose its sizes: the one budget search (sizing.ts) over the
 * adapter's Dim hyper-parameters, counting trainable parameters (adapters plus the head) as the
 * compiled program holds them.
 */
export function prepareMethod(spec: MethodSpec, m: CompareModel, budget: number | undefined): PreparedMethod {
  const flags = spec.adapter ? { model: m.model, adapter: spec.adapter, adapterFile: spec.adapterFile, targetModules: m.targets, base: m.base } : { model: m.model, base: m.base };
  const setup = setupModel(m.file, flags);
  const checked = setup.checked;
  if (spec.adapter) {
    const hypers = checked.units.get(spec.adapter)?.decl.hypers.map((h) => h.name) ?? [];
    const unknown = Object.keys(spec.fixed).filter((k) => !hypers.includes(k));
    if (unknown.length) fail('E-usage', `--methods ${spec.name}: ${spec.adapter} has no hyper-parameter ${unknown.join(', ')}`, undefined, { expected: hypers.join(', ') || 'none' });
  }
  const knobs = spec.trains === 'adapters' && spec.adapter ? sizeKnobs(checked, spec.adapter, spec.fixed) : [];
  const settingsFor = (sizes: Record<string, number>) => ({ ...sizes, ...(spec.derive?.({ ...spec.fixed, ...sizes }) ?? {}), ...spec.fixed });
  const trainable = spec.trains === 'all' ? undefined : m.head.split(',').filter(Boolean);
  const countAt = (sizes: Record<string, number>) => trainableCount(checked, setup, attachmentFor(setup, spec, settingsFor(sizes)), trainable);
  const sizes = knobs.length && budget !== undefined ? chooseSizes(knobs, countAt, budget).values : {};
  const chosen = settingsFor(sizes);
  const attach = attachmentFor(setup, spec, chosen);
  const count = trainableCount(checked, setup, attach, trainable);
  // linear-probe and full have one size each; an adapter without size knobs is reported as it is.
  return { spec, setup, attach, trainable, chosen, searched: budget !== undefined ? knobs : [], trainableParams: count, withinBudget: budget === undefined || spec.trains !== 'adapters' || Math.abs(count - budget) <= BUDGET_TOLERANCE * budget };
}
