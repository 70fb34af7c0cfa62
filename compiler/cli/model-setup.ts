// What every command that runs a model needs, from its flags: the program (the model's file plus
// the adapter's), the entry to run, sizes, an adapter attached by target (--target-modules, or the
// target_modules of a --peft folder), base weights under PyTorch names (--base), adapter values
// from a PEFT folder (--peft), and what --save will need to write one.
import { guardWeights } from '../budget.ts';
import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { CheckedProgram } from '../check/check.ts';
import { fail, LilyError } from '../diagnostics.ts';
import { checkSources, importClosure, readSource, sourceClosure } from '../frontend.ts';
import { hasAdapters, instantiate } from '../interp/instance.ts';
import { emptyRecord, parseTargets, type ModuleRecord, type TargetAttachment } from '../interp/targets.ts';
import { Graph } from '../ir/graph.ts';
import { GraphOps } from '../ir/graph-ops.ts';
import { loadLegacyCheckpoint } from '../../runtime/checkpoint/adapter-checkpoint.ts';
import { SafetensorsError } from '../../runtime/checkpoint/safetensors-codec.ts';
import { mapBaseWeights, parseRename, type Rename } from '../../runtime/peft/base-weights.ts';
import { decodeAdapterTensors, PeftFormatError, type FolderSpec } from '../../runtime/peft/folder.ts';
import type { AdaptedModel } from '../../runtime/peft/adapted.ts';
import { identifyMethod } from '../../runtime/peft/identify.ts';
import { folderSpec } from '../../runtime/peft/adapt.ts';
import { LILY_PROGRAM_TYPE, methodByName, methodForConfig, PEFT_HAS_BUT_UNMAPPED, unsupportedFields, type PeftMethod } from '../../runtime/peft/methods.ts';
import { readAdapterFolder, readWeights, stdlibPath } from '../../runtime/peft/node.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import { parseSettings } from './options.ts';

export interface ModelFlags {
  /** The model (or stand-alone adapter) to run. */
  model?: string;
  /** The adapter to attach (with --target-modules), or the entry itself when --model is absent. */
  adapter?: string;
  adapterFile?: string;
  targetModules?: string;
  hparams?: string;
  dims?: string;
  base?: string;
  baseMap?: string[];
  strict?: boolean;
  peft?: string;
  /** Base modules to train whole beside the adapters (PEFT's modules_to_save): `head` or `head,norm`. */
  trainable?: string;
  /** Sizes for a stand-alone adapter's layer where --dims does not give them (e.g. In=64,Out=64). */
  defaults?: Record<string, number | boolean>;
}

/** A loaded model (runtime/peft/adapted.ts's AdaptedModel), and what the CLI reports about it. */
export interface ModelSetup extends AdaptedModel {
  kind: 'adapter' | 'model';
  /** How --save writes the adapters (PEFT's method, or a Lily program). */
  spec?: FolderSpec;
  /** What was loaded, for the user (one line each). */
  notes: string[];
  /** Leaf paths given by --peft (adapter values). */
  fromPeft: Set<string>;
}

type Source = { file: string; source: string };

/**
 * The flags setupModel reads, added to a command: one definition for run, eval, merge, train and
 * params. `help` overrides what --model, --adapter and --peft say for that command; `weights: false`
 * leaves out --base, --base-map, --strict and --peft.
 */
export function addModelFlags(cmd: Command, help: { model: string; adapter: string; peft?: string }, weights = true): Command {
  cmd
    .option('--model <name>', help.model)
    .option('--adapter <name>', help.adapter)
    .option('--target-modules <list>', "attach --adapter to the model's Linear layers whose path ends with one of these names (q,v), or matches 're:REGEX' (PEFT's target_modules)")
    .option('--hparams <list>', 'hyper-parameters of the attached adapter, e.g. r=8,E=4,stride=2,scale=0.5')
    .option('--adapter-file <file>', 'take --adapter from this .lily file (default: the model file, else stdlib/adapters)')
    .option('--trainable <modules>', "also train these layers of the frozen model whole, e.g. head (PEFT's modules_to_save; saved in the adapter folder)");
  if (!weights) return cmd;
  return cmd
    .option('--base <file>', "the model's weights: a PyTorch state dict (.safetensors, or a folder with model.safetensors[.index.json]), names as PyTorch's (fc1.weight [out, in])")
    .option('--base-map <PATTERN=REPLACEMENT>', "rename the --base file's tensors by a regular expression first (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--strict', 'a --base tensor the model does not use is an error')
    .option('--peft <dir>', help.peft ?? 'an adapter folder written by PEFT (save_pretrained) or lily train --save');
}

/** Map a runtime file-format error to a user error (exit 1). */
export function asUserError<T>(what: () => T): T {
  try {
    return what();
  } catch (e) {
    if (e instanceof PeftFormatError) fail('E-file', e.message, undefined, e.details.length ? { notes: e.details } : undefined);
    if (e instanceof SafetensorsError) fail('E-file', e.message);
    throw e;
  }
}

/** stdlib adapters by name: `Lily` → stdlib/adapters/lily.lily (read lazily). */
function stdlibAdapterFile(name: string): string | undefined {
  const dir = stdlibPath('adapters');
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.lily')) continue;
    const { source } = readSource(join(dir, f));
    if (new RegExp(`^adapter\\s+${name}\\b`, 'm').test(source)) return join(dir, f);
  }
  return undefined;
}

const referenceCache = new Map<string, CheckedProgram>();
/** The stdlib adapter a PEFT method's formula is checked against. */
export function methodReference(m: PeftMethod): CheckedProgram {
  let c = referenceCache.get(m.name);
  if (!c) referenceCache.set(m.name, (c = checkSources([readSource(stdlibPath(m.stdlib))])));
  return c;
}

const declares = (s: Source, name: string) => new RegExp(`^\\s*(adapter|model|fn)\\s+${name}\\b`, 'm').test(s.source);

/** The hyper-parameters a --peft config gives, in our names, checked for type. */
function configSettings(method: PeftMethod, config: Record<string, unknown>, dir: string): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const h of method.hypers) {
    const v = config[h.peft] ?? h.default;
    if (typeof v !== typeof h.default || (typeof v === 'number' && !Number.isFinite(v)))
      fail('E-file', `${dir}/adapter_config.json: ${h.peft} must be ${typeof h.default === 'boolean' ? 'true or false' : 'a number'}, found ${JSON.stringify(v)}`);
    out[h.ours] = v as number | boolean;
  }
  return out;
}

/** Suggest the closest name (for misspelt --hparams / --dims names). */
const suggest = (name: string, names: string[]) => {
  const near = names.filter((n) => n.toLowerCase() === name.toLowerCase() || n.toLowerCase().startsWith(name.toLowerCase().slice(0, 2)));
  return near.length ? ` (did you mean ${near.join(' or ')}?)` : '';
};

export function setupModel(file: string, f: ModelFlags): ModelSetup {
  const sources: Source[] = importClosure(file);
  const notes: string[] = [];
  // `--adapter NAME` naming a model of the file is that model (the older spelling of --model).
  if (!f.model && f.adapter && new RegExp(`^\\s*model\\s+${f.adapter}\\b`, 'm').test(sources[0].source)) f = { ...f, model: f.adapter, adapter: undefined };
  let entry = f.model ?? f.adapter;
  if (f.targetModules && !f.model) fail('E-usage', '--target-modules attaches an adapter to the layers of a model: name the model with --model NAME');
  if (f.targetModules && !f.adapter && !f.peft) fail('E-usage', '--target-modules needs the adapter to attach: --adapter NAME (e.g. LoRA, Lily), or a --peft folder');
  let hparams = parseSettings(f.hparams, '--hparams');
  const settings = parseSettings(f.dims);
  const defaults = f.defaults ?? {};

  // The adapter to attach, and where its source comes from.
  let attach: TargetAttachment | undefined;
  let peft: ReturnType<typeof readAdapterFolder> | undefined;
  let peftMethod: PeftMethod | undefined;
  if (f.peft) {
    peft = asUserError(() => readAdapterFolder(f.peft!));
    const config = peft.config;
    if (config.peft_type === LILY_PROGRAM_TYPE) {
      const prog = config.lily_program as { file?: string; source?: string } | undefined;
      if (!prog || typeof prog.source !== 'string') fail('E-file', `${peft.configFile}: a ${LILY_PROGRAM_TYPE} config must embed lily_program.source`);
      const layers = Object.values((config.layers ?? {}) as Record<string, { adapter: string; settings: Record<string, number | boolean> }>);
      if (!layers.length) fail('E-file', `${peft.configFile}: no adapted layers listed`);
      const src = { file: `${peft.configFile}#lily_program(${prog!.file ?? "source"})`, source: prog!.source! };
      for (const one of sourceClosure(src)) if (!sources.some((s) => s.source === one.source)) sources.push(one);
      const [first] = layers;
      if (f.adapter && f.adapter !== first.adapter) fail('E-usage', `--adapter ${f.adapter} conflicts with ${f.peft}, which holds ${first.adapter}`);
      f = { ...f, adapter: first.adapter };
      hparams = mergeHparams(first.settings, hparams, f.peft!);
    } else {
      const m = methodForConfig(config);
      if (typeof m === 'string') fail('E-file', `${peft.configFile}: ${m}`);
      peftMethod = m;
      const bad = unsupportedFields(m, config);
      if (bad.length) fail('E-file', `${peft.configFile} switches on PEFT features Lily's ${m.adapter} does not compute: ${bad.join(', ')}`);
      if (f.adapter && f.adapter !== m.adapter && f.adapter.toLowerCase() !== m.name)
        fail('E-usage', `--adapter ${f.adapter} conflicts with ${f.peft}, which holds ${m.name} (${m.adapter})`);
      f = { ...f, adapter: f.adapter && f.adapter !== m.name ? f.adapter : m.adapter };
      hparams = mergeHparams(configSettings(m, config, f.peft!), hparams, f.peft!);
    }
    const t = config.target_modules;
    const targets = typeof t === 'string' ? `re:${t}` : Array.isArray(t) && t.every((x) => typeof x === 'string') ? t.join(',') : undefined;
    if (!targets) fail('E-file', `${peft.configFile}: target_modules must be a list of names or a regular expression, found ${JSON.stringify(t)}`);
    if (f.targetModules && f.targetModules !== targets) fail('E-usage', `--target-modules ${f.targetModules} conflicts with ${f.peft}, whose target_modules are ${JSON.stringify(t)}`);
    f = { ...f, targetModules: f.targetModules ?? targets };
  }
  // A method's name (`lora`) stands for its stdlib adapter (`LoRA`).
  const byName = f.adapter ? methodByName(f.adapter.toLowerCase()) : undefined;
  const adapterName = byName && !declares(sources[0], f.adapter!) ? byName.adapter : f.adapter;
  if (f.adapterFile) sources.push(...importClosure(f.adapterFile));
  else if (adapterName && !sources.some((s) => declares(s, adapterName))) {
    const std = stdlibAdapterFile(adapterName);
    if (std) sources.push(readSource(std));
  }
  const checked = checkSources(sources);
  if (!f.model) entry = adapterName;
  if (!entry) fail('E-usage', 'name what to run: --model NAME (a model) or --adapter NAME (an adapter on its own layer)');
  const unit = checked.units.get(entry!);
  if (!unit) fail('E-name', `no model or adapter named '${entry}' in ${file}`, undefined, { expected: [...checked.units.keys()].join(', ') || 'none' });
  const modelHasAdapters = unit.decl.kind === 'model' && hasAdapters(checked, unit);
  if (unit.decl.kind === 'model' && f.targetModules && !(f.peft && modelHasAdapters)) {
    const a = checked.units.get(adapterName!);
    if (!a || a.decl.kind !== 'adapter') fail('E-name', `no adapter named '${adapterName}' (in ${sources.map((s) => s.file).join(', ')} or stdlib/adapters)`);
    checkNames(Object.keys(hparams), a.decl.hypers.map((h) => h.name), `--hparams for ${adapterName}`);
    attach = { adapter: adapterName!, settings: hparams, targets: parseTargets(f.targetModules!) };
  } else if (unit.decl.kind === 'adapter') {
    if (f.targetModules && !f.peft) fail('E-usage', `${entry} is an adapter on its own layer; --target-modules needs a model (--model NAME)`);
    checkNames(Object.keys(hparams), unit.decl.hypers.map((h) => h.name), `--hparams for ${entry}`);
    Object.assign(settings, hparams);
    for (const [k, v] of Object.entries(defaults)) settings[k] ??= v;
  } else if (Object.keys(hparams).length && !f.peft) fail('E-usage', '--hparams sets the hyper-parameters of an adapter attached with --target-modules');

  // Instantiate once to learn the layers, the leaves and their shapes.
  const record = emptyRecord();
  const ops = new GraphOps(new Graph());
  guardWeights(`instantiating ${entry}`, checked, entry!, { N: 1, ...settings }, { attach }); // before drawing any weight
  const trainable = trainableModules(f, peft?.config);
  instantiate(checked, entry!, { settings, ops, attach, record, trainable });
  if (trainable && !record.trained.length) fail('E-usage', `--trainable ${trainable.join(',')} matches no layer of ${entry} (or its layers are not frozen: it has no adapters)`);
  const modulesToSave = trainable ? { names: trainable, weights: record.weights.filter((w) => record.trained.some((p) => w.leaf.startsWith(`${p}.`))) } : undefined;
  const shapes = new Map([...ops.values].map(([k, t]) => [k, t.shape]));
  if (attach && !record.adapted.some((l) => l.adapter === attach!.adapter)) {
    const linears = record.weights.filter((w) => w.transpose).map((w) => w.torch.replace(/\.weight$/, ''));
    fail('E-usage', `--target-modules ${f.targetModules} matches no Linear layer of ${entry}`, undefined, { notes: [`its Linear layers: ${linears.join(', ') || 'none'}`, "a name matches a layer path's last component(s) (q matches blocks.0.q); 're:REGEX' matches whole paths"] });
  }
  const given = new Map<string, Tensor>();
  const fromPeft = new Set<string>();
  if (f.base) loadBase(f, record, shapes, given, notes);
  if (peft && f.peft) {
    if (peftMethod) for (const l of record.adapted) if (identifyMethod(checked, l.adapter, l.settings, methodReference) !== peftMethod)
      fail('E-usage', `${f.peft} holds ${peftMethod.name} tensors, but layer ${l.layer} carries ${l.adapter}, which does not compute PEFT's ${peftMethod.name}`);
    const value = (leaf: string) => given.get(leaf) ?? ops.values.get(leaf)!;
    const values = asUserError(() => decodeAdapterTensors({ method: peftMethod, modulesToSave }, record.adapted, peft!.weights, peft!.weightsFile, (leaf) => shapes.get(leaf)!, value));
    for (const [k, v] of values) {
      given.set(k, v);
      fromPeft.add(k);
    }
    notes.push(`loaded ${peftMethod ? `PEFT ${peftMethod.name}` : 'Lily program'} adapter from ${f.peft}: ${values.size} tensors onto ${record.adapted.length} layer(s)`);
  }
  const spec = record.adapted.length ? { ...folderSpec(checked, record, { program: adapterSource(checked, sources, record), model: unit.decl.kind === 'model' ? { name: entry!, library: basename(sources[0].file).replace(/\.lily$/, '') } : undefined, reference: methodReference, attach }), modulesToSave } : undefined;
  const peftHas = spec && !spec.method ? PEFT_HAS_BUT_UNMAPPED[record.adapted[0].adapter] : undefined;
  if (peftHas) notes.push(`PEFT has ${record.adapted[0].adapter} (peft_type ${peftHas}), but its layout is not mapped here yet: --save writes a ${LILY_PROGRAM_TYPE} folder, which PEFT refuses rather than misreads`);
  const value = (leaf: string) => given.get(leaf) ?? ops.values.get(leaf) ?? fail('E-name', `no tensor '${leaf}' in ${entry}`);
  return { checked, entry: entry!, kind: unit.decl.kind, settings, attach, given, record, shapes, spec, notes, fromPeft, value, trainable };
}

/** The source file that declares the adapted layers' adapter, embedded when it is saved as a Lily program. */
function adapterSource(checked: CheckedProgram, sources: Source[], record: ModuleRecord): { file: string; source: string; sha256: string } | undefined {
  if (!record.adapted.length) return undefined;
  const decl = checked.units.get(record.adapted[0].adapter)!.decl;
  const src = sources.find((s) => s.file === decl.span.file) ?? sources[0];
  return { file: basename(src.file), source: src.source, sha256: createHash('sha256').update(src.source).digest('hex') };
}

/** --trainable, or a --peft config's modules_to_save (the same list if both are given). */
function trainableModules(f: ModelFlags, config?: Record<string, unknown>): string[] | undefined {
  const given = f.trainable ? f.trainable.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  const saved = config?.modules_to_save;
  if (saved !== undefined && saved !== null && !(Array.isArray(saved) && saved.every((s) => typeof s === 'string')))
    fail('E-file', `${f.peft}/adapter_config.json: modules_to_save must be a list of module names, found ${JSON.stringify(saved)}`);
  const fromConfig = (saved as string[] | null | undefined) ?? undefined;
  if (given && fromConfig && given.join() !== fromConfig.join()) fail('E-usage', `--trainable ${given.join(',')} conflicts with ${f.peft}, whose modules_to_save are ${JSON.stringify(fromConfig)}`);
  return given ?? fromConfig;
}

/** --hparams over a --peft config: the same value, or an error naming both. */
function mergeHparams(fromConfig: Record<string, number | boolean>, given: Record<string, number | boolean>, dir: string) {
  for (const [k, v] of Object.entries(given))
    if (k in fromConfig && fromConfig[k] !== v) fail('E-usage', `--hparams ${k}=${v} conflicts with ${dir}, whose config gives ${k} = ${fromConfig[k]}`);
  return { ...fromConfig, ...given };
}

function checkNames(given: string[], known: string[], what: string) {
  for (const g of given) if (!known.includes(g)) fail('E-usage', `${what}: no hyper-parameter '${g}'${suggest(g, known)}`, undefined, { expected: known.join(', ') || 'none' });
}

function loadBase(f: ModelFlags, record: ModuleRecord, shapes: Map<string, number[]>, given: Map<string, Tensor>, notes: string[]) {
  const renames: Rename[] = (f.baseMap ?? []).map((r) => {
    const parsed = parseRename(r);
    return typeof parsed === 'string' ? fail('E-usage', `--base-map: ${parsed}`) : parsed;
  });
  const { tensors, metadata, files } = asUserError(() => readWeights(f.base!));
  if (metadata.lily_paths) {
    // A checkpoint written by an earlier Lily: names map back through its metadata.
    const legacy = asUserError(() => loadLegacyCheckpoint(tensors, metadata, f.base!));
    const known = new Set(record.weights.map((w) => w.leaf));
    const used = [...legacy].filter(([k]) => known.has(k));
    if (!used.length) fail('E-file', `${f.base} holds none of the model's weights`, undefined, { notes: [`the model needs e.g. ${[...known].slice(0, 4).join(', ')}`, `the file has e.g. ${[...legacy.keys()].slice(0, 4).join(', ')}`] });
    for (const [k, v] of used) given.set(k, v);
    notes.push(`loaded ${used.length} base tensors from ${f.base} (a Lily checkpoint)`);
    return;
  }
  const load = asUserError(() => mapBaseWeights(record.weights, tensors, files.join(', '), renames, (leaf) => shapes.get(leaf)!));
  for (const [k, v] of load.given) given.set(k, v);
  if (load.unused.length && f.strict) fail('E-file', `${f.base}: ${load.unused.length} tensor(s) the model does not use (--strict)`, undefined, { notes: [load.unused.slice(0, 20).join(', ')] });
  notes.push(`loaded ${load.given.size} base tensors from ${f.base}${load.unused.length ? `; ${load.unused.length} unused: ${load.unused.slice(0, 8).join(', ')}${load.unused.length > 8 ? ', …' : ''}` : ''}`);
}
