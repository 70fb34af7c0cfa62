// The trained adapter as a PEFT folder in a zip (adapter_model.safetensors + adapter_config.json,
// written by runtime/peft/folder.ts exactly as `lily train --save` writes them), and such a zip read
// back onto the same adapter. PEFT's methods get PEFT's own format; other adapters a Lily program
// folder (the source embedded). The page supports an adapter on its own frozen layer (`base`).
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import type { CheckedProgram } from '../../compiler/check/check.ts';
import { checkProgram } from '../../compiler/check/check.ts';
import { instantiate } from '../../compiler/interp/instance.ts';
import { emptyRecord, type AdaptedLayer } from '../../compiler/interp/targets.ts';
import { Graph } from '../../compiler/ir/graph.ts';
import { GraphOps } from '../../compiler/ir/graph-ops.ts';
import { parse } from '../../compiler/syntax/to-ast.ts';
import { commonSettings, CONFIG_FILE, decodeAdapterTensors, encodeAdapterFolder, PeftFormatError, WEIGHTS_FILE, type FolderSpec } from '../../runtime/peft/folder.ts';
import type { Dense } from '../../runtime/peft/layouts.ts';
import { identifyMethod, methodOfLayers } from '../../runtime/peft/identify.ts';
import { LILY_PROGRAM_TYPE, methodForConfig, type PeftMethod } from '../../runtime/peft/methods.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import { EXAMPLES } from './examples.ts';

const references = new Map<string, CheckedProgram>();
/** The stdlib adapter a PEFT method is checked against (bundled with the page). */
function reference(m: PeftMethod): CheckedProgram {
  let c = references.get(m.name);
  if (!c) {
    const ex = EXAMPLES.find((e) => e.path === `stdlib/${m.stdlib}`);
    if (!ex) throw new Error(`internal: stdlib/${m.stdlib} is not bundled`);
    references.set(m.name, (c = checkProgram(parse(ex.source, ex.path))));
  }
  return c;
}

/** The adapted layer of an adapter on its own frozen layer, and the shapes of every leaf. */
function layout(checked: CheckedProgram, unit: string, settings: Record<string, number | boolean>) {
  if (checked.units.get(unit)?.decl.kind !== 'adapter') throw new PeftFormatError(`${unit} is a model: the page saves and loads an adapter on its own layer (attach adapters to a model's layers with the CLI: lily train --model … --save DIR)`);
  const record = emptyRecord();
  const ops = new GraphOps(new Graph());
  instantiate(checked, unit, { settings, ops, record });
  const shapes = new Map([...ops.values].map(([k, t]) => [k, t.shape]));
  return { adapted: record.adapted, shapes };
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', strToU8(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function spec(checked: CheckedProgram, source: string, file: string, adapted: AdaptedLayer[]): Promise<FolderSpec> {
  const method = methodOfLayers(checked, adapted, reference);
  const where = { targets: adapted.map((l) => l.layer), modelClass: 'Linear', library: 'torch.nn' };
  return method ? { method, ...where } : { ...where, program: { file, source, sha256: await sha256(source) } };
}

/** A zip holding `<folder>/adapter_model.safetensors` and `<folder>/adapter_config.json`. */
export async function adapterZip(
  checked: CheckedProgram,
  source: string,
  unit: string,
  settings: Record<string, number | boolean>,
  value: (leaf: string) => Dense,
): Promise<{ zip: Uint8Array; folder: string; kind: string }> {
  const { adapted } = layout(checked, unit, settings);
  const s = await spec(checked, source, 'playground.lily', adapted);
  const files = encodeAdapterFolder(s, adapted, value);
  const folder = `${unit.toLowerCase()}-adapter`;
  const zip = zipSync({ [folder]: { [WEIGHTS_FILE]: files.weights, [CONFIG_FILE]: strToU8(files.config) } });
  return { zip, folder, kind: s.method ? `PEFT ${s.method.peftType}` : 'Lily program' };
}

/** Read a zip written by adapterZip (or a PEFT folder zipped) onto `unit`: leaf → starting value. */
/** `base(leaf)`: the frozen weights the adapter sits on (DoRA's magnitude is stored relative to them). */
export function loadAdapterZip(bytes: Uint8Array, name: string, checked: CheckedProgram, unit: string, settings: Record<string, number | boolean>, base?: (leaf: string) => Dense | undefined): { given: Map<string, Tensor>; kind: string } {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new PeftFormatError(`${name}: not a zip file (${e instanceof Error ? e.message : String(e)})`);
  }
  const find = (base: string) => Object.keys(files).filter((k) => k === base || k.endsWith(`/${base}`));
  const [configPath, ...moreConfigs] = find(CONFIG_FILE);
  const [weightsPath] = find(WEIGHTS_FILE);
  if (!configPath || !weightsPath) throw new PeftFormatError(`${name}: expected ${CONFIG_FILE} and ${WEIGHTS_FILE} (a PEFT adapter folder), found ${Object.keys(files).join(', ') || 'nothing'}`);
  if (moreConfigs.length) throw new PeftFormatError(`${name}: holds more than one adapter (${[configPath, ...moreConfigs].join(', ')})`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(strFromU8(files[configPath]));
  } catch (e) {
    throw new PeftFormatError(`${name}/${configPath}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const { adapted, shapes } = layout(checked, unit, settings);
  let method: PeftMethod | undefined;
  if (config.peft_type !== LILY_PROGRAM_TYPE) {
    const m = methodForConfig(config);
    if (typeof m === 'string') throw new PeftFormatError(`${name}/${configPath}: ${m}`);
    if (identifyMethod(checked, unit, commonSettings(adapted) as Record<string, number | boolean>, reference) !== m)
      throw new PeftFormatError(`${name} holds a PEFT ${m.name} adapter; ${unit} in the editor does not compute ${m.name} (pick ${m.adapter})`);
    method = m;
  }
  const values = decodeAdapterTensors({ method }, adapted, files[weightsPath], `${name}/${weightsPath}`, (leaf) => shapes.get(leaf)!, (leaf) => {
    const v = base?.(leaf);
    if (!v) throw new PeftFormatError(`${name}: reading a magnitude vector needs the frozen weight ${leaf}: train once first, then load`);
    return v;
  });
  return { given: new Map([...values].map(([k, v]) => [k, { shape: v.shape, data: v.data } as Tensor])), kind: method ? `PEFT ${method.peftType}` : 'Lily program' };
}
