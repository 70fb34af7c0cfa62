// Running one entry point of a checked program: a fn, an adapter's delta/forward, or a model's
// forward. Inputs are given or drawn N(0, 1) from the seed; sizes come from the settings.
import type { CheckedProgram } from '../check/check.ts';
import { evalDim, showDim } from '../check/dims.ts';
import { dimOfLoose } from '../check/expr.ts';
import { fail } from '../diagnostics.ts';
import type * as A from '../syntax/ast.ts';
import { normalSequence } from '../../runtime/init/drawn.ts';
import { rng } from '../../runtime/init/rng.ts';
import { toNested, type Tensor } from '../../runtime/tensor/index.ts';
import { callFunction } from './eval.ts';
import { callMethod, instantiate, shapeOnly, type InstanceOptions } from './instance.ts';
import { tv, type Value } from './values.ts';
import { Float64Ops, type Ops } from './ops.ts';
import { EVAL_MODE, ModeState, type RunMode } from './mode.ts';

export interface RunOptions {
  settings: Record<string, number | boolean>;
  inputs?: Map<string, Tensor>;
  seed?: number;
  params?: InstanceOptions['params'];
  /** Parameter values by path (as in Instance.tensors / IR leaf names). */
  given?: Map<string, Tensor>;
  ops?: Ops;
  /** Training or evaluation (default), the step, the seed of forward-pass random draws. */
  mode?: Partial<RunMode>;
  /** Attach an adapter to the matching Linear layers of a model (PEFT's target_modules). */
  attach?: InstanceOptions['attach'];
  /** Filled in: base weights by PyTorch name, adapted layers with their parameters' leaves. */
  record?: InstanceOptions['record'];
  /** Base layers that train anyway (PEFT's modules_to_save). */
  trainable?: string[];
  /** Time the parameters' initialisers here (as parts of 'lower'). */
  timings?: InstanceOptions['timings'];
}

/**
 * Evaluate a function, an adapter's method (`Adapter` or `Adapter.method`) or a model's forward with
 * the float64 reference interpreter, on the given inputs or random ones.
 */
export function runEntry(checked: CheckedProgram, entry: string, opts: RunOptions): { inputs: Map<string, Tensor>; output: Value } {
  const [name, methodName] = entry.split('.');
  const sizes = new Map(Object.entries(opts.settings).filter((e): e is [string, number] => typeof e[1] === 'number'));
  const fn = checked.fns.get(name);
  const unit = checked.units.get(name);
  if (!fn && !unit) fail('E-name', `no function, adapter or model named '${name}' (have: ${[...checked.fns.keys(), ...checked.units.keys()].join(', ') || 'none'})`);
  const mode = new ModeState({ ...EVAL_MODE, seed: opts.seed ?? 0, ...opts.mode });
  const inst = unit ? instantiate(checked, name, { settings: opts.settings, seed: opts.seed, params: opts.params, ops: opts.ops, given: opts.given, attach: opts.attach, record: opts.record, trainable: opts.trainable, mode, timings: opts.timings }) : undefined;
  const method = unit ? (methodName ?? (unit.methods.has('delta') ? 'delta' : 'forward')) : undefined;
  const decl: { params: A.ValueParam[] } | undefined = fn ?? unit?.methods.get(method!);
  if (!decl) fail('E-name', `${name} has no method '${method}'`);
  if (inst) for (const [k, v] of inst.env.sizes) if (!sizes.has(k)) sizes.set(k, v);
  const inputDraws = normalSequence(rng(opts.seed ?? 0).fork('inputs'));
  const inputs = new Map<string, Tensor>();
  const args: Value[] = decl.params.map((p) => {
    if (p.type.kind !== 'tensorType') {
      const v = opts.settings[p.name];
      if (v === undefined) fail('E-usage', `give the scalar argument '${p.name}' with --dims ${p.name}=…`);
      return typeof v === 'boolean' ? { kind: 'bool', v } : { kind: 'num', v };
    }
    let t = opts.inputs?.get(p.name);
    const shape = p.type.dims.map((d, k) => {
      if (t && d.kind === 'dimName' && !sizes.has(d.name)) sizes.set(d.name, t.shape[k]);
      try {
        return evalDim(dimOfLoose(d), sizes);
      } catch (e) {
        return fail('E-usage', `input '${p.name}': ${(e as Error).message}`, p.span);
      }
    });
    if (t && (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])))
      fail('E-shape', `input '${p.name}' has shape [${t.shape.join(', ')}] but needs [${shape.join(', ')}]`, p.span);
    if (!t && opts.params === 'shapes') t = shapeOnly(shape);
    // drawn in bulk when first needed (whole-model inputs are ~10⁶ values), each input from where the last one ended
    if (!t) t = inputDraws.next(shape);
    inputs.set(p.name, t);
    return tv((opts.ops ?? Float64Ops).leaf('input', p.name, t, undefined, p.type.dims.map((d) => showDim(dimOfLoose(d)))));
  });
  for (const k of opts.inputs?.keys() ?? []) if (!inputs.has(k)) fail('E-usage', `--inputs: '${name}' has no input named '${k}'`);
  const output = fn ? callFunction(fn, args, { ops: opts.ops ?? Float64Ops, info: checked.info, sizes: new Map(), vars: new Map(), layers: new Map(), fns: checked.fns, mode }) : callMethod(inst!, method!, args);
  return { inputs, output };
}

/** A float64 result as plain JSON (numbers, nested arrays, booleans). */
export function resultJson(v: Value): unknown {
  return v.kind === 'tensor' ? toNested(v.t as Tensor) : v.v;
}
