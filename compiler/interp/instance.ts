// Instantiating an adapter or a model at concrete sizes: hyper-parameter values, parameters
// drawn from their initialisers (or supplied), layers with their weights, member constants.
import type { CheckedProgram, UnitInfo } from '../check/check.ts';
import { evalDim, showDim, type Dim } from '../check/dims.ts';
import { fail } from '../diagnostics.ts';
import type * as A from '../syntax/ast.ts';
import { getInitializer, initializeLazily } from '../../runtime/init/initializers.ts';
import { rng as makeRng, type Rng } from '../../runtime/init/rng.ts';
import * as T from '../../runtime/tensor/index.ts';
import { evaluate, type Env, type LayerRuntime } from './eval.ts';
import { timed, type Timings } from '../timings.ts';
import type { TT } from './ops.ts';
import { asNumber, tv, type Value } from './values.ts';
import { Float64Ops, type Ops } from './ops.ts';
import type { ModeState } from './mode.ts';
import { matchTarget, type ModuleRecord, type TargetAttachment } from './targets.ts';

export interface InstanceOptions {
  /** Sizes of dimensions and values of hyper-parameters, by name (`N=4,In=8,r=2,stride=2`). */
  settings: Record<string, number | boolean>;
  seed?: number;
  /**
   * 'init': each parameter's own initialiser (B = zeros gives delta = 0); 'random': N(0, 0.5²)
   * everywhere, for checks; 'shapes': no values at all (shape-only leaves, for lowering to count
   * FLOPs and plan kernels without allocating In·Out).
   */
  params?: 'init' | 'random' | 'shapes';
  /** Parameters supplied by path (`A`, `fc1.W`, `blocks.0.q.W`), e.g. from a checkpoint. */
  given?: Map<string, T.Tensor>;
  /** Float64Ops (default) computes; GraphOps lowers to IR. */
  ops?: Ops;
  /** For an adapter attached to a model's layer: that layer's weights, instead of drawing a base. */
  base?: { W: TT; b: TT; Wt: T.Tensor; bt: T.Tensor };
  /** The innermost `repeat` copy this instance is in: the layers of one target share parameters per their sharing scope. */
  copy?: { concrete: string; template: string; index: number; count: number };
  /** Parameters already drawn, by leaf path: a shared parameter is one tensor (one IR leaf) for every layer using it. */
  shared?: Map<string, T.Tensor>;
  /** Inside a model with adapters attached: its own weights are the frozen base. */
  frozenBase?: boolean;
  /** Training or evaluation, the step, forward-pass random draws (shared by nested instances). */
  mode?: ModeState;
  /** Attach an adapter to the model's Linear layers that match (PEFT's target_modules). */
  attach?: TargetAttachment;
  /** Time the initialisers here: 'lower/initialise' (named ones), 'lower/initialise from' (`from EXPR`). */
  timings?: Timings;
  /** Layers of a frozen base that train anyway (PEFT's modules_to_save), matched as targets are. */
  trainable?: string[];
  /** Filled in: every base weight by PyTorch name, every adapted layer with its parameters' leaves. */
  record?: ModuleRecord;
  /** Sharing groups of target-attached layers: group key → layer paths in model order. */
  groups?: Map<string, string[]>;
  /** For an adapter attached by target: its layer's group and position (shared parameters follow PEFT). */
  group?: { layers: string[]; index: number };
}

export interface Instance {
  unit: UnitInfo;
  env: Env;
  /** Every tensor this instance owns, by path: adapter parameters and (for adapters) base.W/base.b. */
  tensors: Map<string, T.Tensor>;
  /** The IR leaf path of each declared parameter (a shared one names the leaf all its layers use). */
  leaves: Map<string, string>;
}

/** Resolve hyper-parameters (given, else default) and dimension sizes. */
export function resolveSettings(checked: CheckedProgram, unit: UnitInfo, settings: Record<string, number | boolean>): { sizes: Map<string, number>; hypers: Map<string, Value> } {
  const sizes = new Map<string, number>();
  const hypers = new Map<string, Value>();
  for (const [k, v] of Object.entries(settings)) if (typeof v === 'number') sizes.set(k, v);
  const env: Env = { ops: Float64Ops, info: checked.info, sizes, vars: new Map(), layers: new Map(), fns: checked.fns };
  for (const h of unit.decl.hypers) {
    const given = settings[h.name];
    let v: Value;
    if (given !== undefined) v = typeof given === 'boolean' ? { kind: 'bool', v: given } : { kind: 'num', v: given };
    else if (h.default) v = evaluate(h.default, env);
    else fail('E-hyper', `${unit.decl.name} needs a value for '${h.name}' (give it with --dims ${h.name}=…)`, h.span);
    if (h.hyper === 'Bool' && v.kind !== 'bool') fail('E-hyper', `'${h.name}' is a Bool: give true or false`, h.span);
    if ((h.hyper === 'Dim' || h.hyper === 'Int') && !(v.kind === 'num' && Number.isInteger(v.v)))
      fail('E-hyper', `'${h.name}' must be a whole number`, h.span, { found: String((v as { v: unknown }).v) });
    if (h.hyper === 'Dim') {
      if (asNumber(v) < 1) fail('E-hyper', `dimension '${h.name}' must be at least 1`, h.span);
      sizes.set(h.name, asNumber(v));
    } else hypers.set(h.name, v);
    env.vars.set(h.name, v);
  }
  checkConstraints(checked, unit, env);
  return { sizes, hypers };
}

/**
 * The unit's `where` conditions at these sizes: a false one is a located E-hyper naming the values.
 * A condition on a size not given yet (a partial --dims) waits for it.
 */
function checkConstraints(checked: CheckedProgram, unit: UnitInfo, env: Env) {
  for (const c of unit.decl.constraints) {
    const names = exprNames(c);
    if (names.some((n) => (checked.info.get(n)?.binding as { origin?: string } | undefined)?.origin === 'dim' && !env.sizes.has(n.name))) continue;
    const v = evaluate(c, env);
    if (v.kind === 'bool' && !v.v) {
      const values = [...new Set(names.map((n) => n.name))].map((n) => `${n} = ${env.sizes.get(n) ?? (env.vars.get(n) as { v?: unknown } | undefined)?.v}`);
      fail('E-hyper', `${unit.decl.name} requires ${sourceOf(c)}`, c.span, { found: values.join(', '), notes: [CONSTRAINT_NOTE] });
    }
  }
}
/** Marks diagnostics of unmet `where` conditions (verify skips such sizes rather than failing). */
export const CONSTRAINT_NOTE = 'declared in a `where` condition';

const exprNames = (e: A.Expr): Extract<A.Expr, { kind: 'var' }>[] => {
  const out: Extract<A.Expr, { kind: 'var' }>[] = [];
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object') return;
    if ((v as A.Expr).kind === 'var' && 'span' in v) out.push(v as Extract<A.Expr, { kind: 'var' }>);
    Object.values(v).forEach(walk);
  };
  walk(e);
  return out;
};
const sourceOf = (e: A.Expr): string => {
  switch (e.kind) {
    case 'var':
      return e.name;
    case 'num':
      return String(e.value);
    case 'binary':
      return `${sourceOf(e.left)} ${e.op} ${sourceOf(e.right)}`;
    default:
      return 'its condition';
  }
};

export function instantiate(checked: CheckedProgram, unitName: string, opts: InstanceOptions, prefix = '', rngIn?: Rng): Instance {
  const unit = checked.units.get(unitName);
  if (!unit) fail('E-name', `no adapter or model named '${unitName}' (have: ${[...checked.units.keys()].join(', ') || 'none'})`);
  const { sizes, hypers } = resolveSettings(checked, unit, opts.settings);
  const rng = rngIn ?? makeRng(opts.seed ?? 0);
  const ops = opts.ops ?? Float64Ops;
  opts = { ...opts, shared: opts.shared ?? new Map(), groups: opts.groups ?? new Map(), frozenBase: opts.frozenBase ?? (hasAdapters(checked, unit) || !!opts.attach) };
  const env: Env = { ops, info: checked.info, sizes, vars: new Map(hypers), layers: new Map(), fns: checked.fns, mode: opts.mode };
  const tensors = new Map<string, T.Tensor>();
  const leaves = new Map<string, string>();
  const size = (d: Dim) => {
    try {
      return evalDim(d, sizes);
    } catch (e) {
      return fail('E-size', (e as Error).message, unit.decl.span);
    }
  };
  const draw = (path: string, shape: number[], init: string, args: Record<string, number>): T.Tensor => {
    const given = opts.given?.get(path);
    if (given) {
      if (!T.shapeEq(given.shape, shape)) fail('E-shape', `supplied parameter '${path}' has shape [${given.shape}] but the program needs [${shape}]`);
      return given;
    }
    if (opts.params === 'shapes') return shapeOnly(shape);
    // drawn when the values are first needed: by a backend, straight into its float32 buffer (drawn.ts)
    const stream = () => rng.fork(path);
    return timed(opts.timings, 'lower/initialise', () => (opts.params === 'random' ? initializeLazily('normal', shape, { mean: 0, std: 0.5 }, stream) : initializeLazily(init, shape, args, stream)));
  };
  if (unit.base && opts.base) {
    env.layers.set('base', { kind: 'Linear', W: opts.base.W, b: opts.base.b });
    tensors.set('base.W', opts.base.Wt).set('base.b', opts.base.bt);
  } else if (unit.base) {
    const [In, Out] = [size(unit.base.inDim), size(unit.base.outDim)];
    const W = draw(`${prefix}base.W`, [In, Out], 'normal', { mean: 0, std: 1 / Math.sqrt(In) });
    const b = draw(`${prefix}base.b`, [Out], opts.params === 'random' ? 'normal' : 'zeros', {});
    const [inName, outName] = [showDim(unit.base.inDim), showDim(unit.base.outDim)];
    env.layers.set('base', { kind: 'Linear', W: ops.leaf('param', `${prefix}base.W`, W, false, [inName, outName]), b: ops.leaf('param', `${prefix}base.b`, b, false, [outName]) });
    tensors.set('base.W', W).set('base.b', b);
    // A stand-alone adapter is saved as if its frozen layer were a module named `base`.
    opts.record?.weights.push({ leaf: `${prefix}base.W`, torch: `${prefix}base.weight`, transpose: true }, { leaf: `${prefix}base.b`, torch: `${prefix}base.bias`, transpose: false });
  }
  // `from EXPR` initialisers run once, here, in float64 (the reference interpreter), whatever ops
  // lower the program: they see hyper-parameters, base's weights, and the parameters' initial
  // values and member lets above them.
  const initEnv: Env | undefined = unit.decl.members.some((m) => m.kind === 'param' && m.init.from)
    ? { ...env, ops: Float64Ops, vars: new Map(hypers), layers: new Map([['base', { kind: 'Linear', W: tensors.get('base.W')!, b: tensors.get('base.b')! }]]) }
    : undefined;
  const frozenModelParam = unit.decl.kind === 'model' && opts.frozenBase;
  for (const m of unit.decl.members) {
    if (m.kind === 'param') {
      const p = unit.params.find((x) => x.decl === m)!;
      // The layers of one target (the copies of a `repeat`) share a parameter per its scope: one
      // path, so one tensor and one IR leaf, whose gradient autodiff sums over the layers using it.
      // Shared across the model: one leaf per adapter and parameter, whichever layer uses it.
      const path =
        m.sharing.kind === 'acrossModel'
          ? `${unit.decl.name}.${m.name}`
          : opts.group
            ? groupPath(prefix, m.name, m.sharing, opts.group, env)
            : sharedPath(`${prefix}${m.name}`, m.sharing, opts.copy, env);
      const shared = opts.shared ?? new Map<string, T.Tensor>();
      const shape = p.shape.map(size);
      const prev = shared.get(path);
      if (prev && !T.shapeEq(prev.shape, shape))
        fail('E-shape', `'${m.name}' is shared by layers that need different shapes: [${shape}] here, [${prev.shape}] in another layer`, m.span, {
          notes: ['a shared parameter needs the same size in every layer using it (size it by hyper-parameters, not by In or Out)'],
        });
      const t = shared.get(path) ?? (m.init.from ? drawFrom(path, shape, m.init.from, initEnv!) : draw(path, shape, m.init.name, initArgs(m, env)));
      initEnv?.vars.set(m.name, tv(t));
      shared.set(path, t);
      tensors.set(m.name, t);
      leaves.set(m.name, path);
      // A model's own parameters are part of the frozen base once adapters are attached.
      if (unit.decl.kind === 'model') opts.record?.weights.push({ leaf: path, torch: path, transpose: false });
      env.vars.set(m.name, tv(ops.leaf('param', path, t, m.trainable && !frozenModelParam, p.shape.map(showDim))));
      if (m.lrScale) {
        const ratio = asNumber(evaluate(m.lrScale, env));
        if (!(ratio > 0)) fail('E-hyper', `the learning-rate ratio of '${m.name}' must be positive`, m.lrScale.span, { found: String(ratio) });
        ops.scaleLearningRate?.(path, ratio);
      }
    } else if (m.kind === 'layer') {
      const rt = instantiateLayer(checked, unit, m, env, opts, `${prefix}${m.name}`, rng, draw, tensors);
      env.layers.set(m.name, rt);
    } else if (m.kind === 'let') {
      env.vars.set(m.name, evaluate(m.value, env));
      initEnv?.vars.set(m.name, evaluate(m.value, initEnv));
    }
  }
  if (unit.decl.kind === 'adapter' && !opts.base && unit.base && !prefix)
    opts.record?.adapted.push({ layer: 'base', adapter: unit.decl.name, group: 'base', In: size(unit.base.inDim), Out: size(unit.base.outDim), params: leaves, settings: settingsOf(unit, sizes, hypers) });
  return { unit, env, tensors, leaves };

  function drawFrom(path: string, shape: number[], from: A.Expr, initEnv: Env): T.Tensor {
    // Shape-only lowering (FLOPs, plans, memory estimates) never runs the initialiser: the checker
    // has proved its shape, and an SVD of a 16384² weight is what the estimate is there to refuse.
    if (opts.given?.has(path) || opts.params === 'random' || opts.params === 'shapes') return draw(path, shape, 'zeros', {});
    const v = timed(opts.timings, 'lower/initialise from', () => evaluate(from, initEnv));
    const t = v.kind === 'tensor' ? (v.t as T.Tensor) : T.full(shape, asNumber(v));
    if (!T.shapeEq(t.shape, shape)) fail('E-shape', `the initial value of '${path}' has shape [${t.shape}] but the parameter is [${shape}]`, from.span);
    return t;
  }
}

/** A named initialiser's arguments, positional ones named by the initialiser's table. */
function initArgs(m: A.ParamDecl, env: Env): Record<string, number> {
  const args: Record<string, number> = {};
  const specNames = initParamNames(m.init.name);
  m.init.args.filter((a) => !a.name).forEach((a, i) => (args[specNames[i]] = asNumber(evaluate(a.value, env))));
  for (const a of m.init.args) if (a.name) args[a.name] = asNumber(evaluate(a.value, env));
  return args;
}

/** An adapter's resolved hyper-parameters, by name. */
function settingsOf(unit: UnitInfo, sizes: Map<string, number>, hypers: Map<string, Value>): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const h of unit.decl.hypers) {
    const v = h.hyper === 'Dim' ? sizes.get(h.name) : hypers.get(h.name);
    if (typeof v === 'number') out[h.name] = v;
    else if (v && (v.kind === 'num' || v.kind === 'bool')) out[h.name] = v.v;
  }
  return out;
}

const NO_DATA = new Float64Array(0);
/** A leaf with a shape and no values: only for lowering that never evaluates (FLOPs, plans, counts). */
export const shapeOnly = (shape: number[]): T.Tensor => ({ shape: [...shape], data: NO_DATA });

const initParamNames = (name: string) => getInitializer(name).params.map((p) => p.name);

function instantiateLayer(
  checked: CheckedProgram,
  unit: UnitInfo,
  m: A.LayerDecl,
  env: Env,
  opts: InstanceOptions,
  path: string,
  rng: Rng,
  draw: (path: string, shape: number[], init: string, args: Record<string, number>) => T.Tensor,
  tensors: Map<string, T.Tensor>,
): LayerRuntime {
  const info = unit.layers.get(m.name)!;
  const size = (d: Dim) => evalDim(d, env.sizes);
  if (info.kind === 'Linear') {
    const [In, Out] = [size(info.inDim), size(info.outDim)];
    const W = draw(`${path}.W`, [In, Out], 'kaiming_uniform', { a: Math.sqrt(5) });
    const b = draw(`${path}.b`, [Out], 'uniform', { low: -1 / Math.sqrt(In), high: 1 / Math.sqrt(In) });
    tensors.set(`${m.name}.W`, W).set(`${m.name}.b`, b); // keys relative to this instance
    opts.record?.weights.push({ leaf: `${path}.W`, torch: `${path}.weight`, transpose: true }, { leaf: `${path}.b`, torch: `${path}.bias`, transpose: false });
    const trainable = trainsAnyway(opts, path);
    const [inName, outName] = [showDim(info.inDim), showDim(info.outDim)];
    const Wl = env.ops.leaf('param', `${path}.W`, W, trainable, [inName, outName]);
    const bl = env.ops.leaf('param', `${path}.b`, b, trainable, [outName]);
    // An adapter attached in the source (`with`), or by target (PEFT's target_modules).
    const targetEntry = opts.attach ? matchTarget(opts.attach.targets, path) : undefined;
    const excluded = opts.attach?.exclude !== undefined && matchTarget(opts.attach.exclude, path) !== undefined;
    if (info.adapter && targetEntry !== undefined && !excluded)
      fail('E-usage', `layer '${path}' already has ${info.adapter.decl.name} attached in the source; --target-modules cannot attach a second adapter to it`, m.span);
    let adapterName: string;
    let settings: Record<string, number | boolean> = {};
    let group: string;
    let groupPos: InstanceOptions['group'];
    if (info.adapter) {
      const a = info.adapter;
      adapterName = a.decl.name;
      for (const [k, d] of a.dimArgs) settings[k] = size(d);
      for (const [k, e] of a.hyperArgs) {
        const v = evaluate(e, env);
        settings[k] = v.kind === 'bool' ? v.v : asNumber(v);
      }
      group = opts.copy && path.startsWith(opts.copy.concrete) ? `${opts.copy.template}${path.slice(opts.copy.concrete.length)}` : path;
    } else if (opts.attach && targetEntry !== undefined && !excluded) {
      adapterName = opts.attach.adapter;
      settings = { ...opts.attach.settings, ...layerSizes(checked, adapterName, In, Out, path) };
      group = `${targetEntry} [${In}, ${Out}]`;
      const layers = opts.groups!.get(group) ?? [];
      layers.push(path);
      opts.groups!.set(group, layers);
      groupPos = { layers, index: layers.length - 1 };
    } else return { kind: 'Linear', W: Wl, b: bl, path };
    // The adapter, instantiated on this layer's weights, its own parameters under the layer's path.
    const sub = { ...opts, settings, base: { W: Wl, b: bl, Wt: W, bt: b }, group: groupPos, attach: undefined };
    const inst = instantiate(checked, adapterName, sub, `${path}.${adapterName}.`, rng);
    for (const [k, t] of inst.tensors) if (!k.startsWith('base.')) tensors.set(`${m.name}.${adapterName}.${k}`, t);
    const resolved = settingsOf(inst.unit, inst.env.sizes, new Map([...inst.env.vars].filter(([k]) => inst.unit.decl.hypers.some((h) => h.name === k))));
    opts.record?.adapted.push({ layer: path, adapter: adapterName, group, In, Out, params: inst.leaves, settings: resolved });
    const method = inst.unit.methods.has('delta') ? 'delta' : 'forward';
    return { kind: 'Linear', W: Wl, b: bl, path, adapter: { form: method, call: (x: Value) => callMethod(inst, method, [x]) } };
  }
  if (info.kind === 'LayerNorm') {
    const g = draw(`${path}.g`, [size(info.dim)], 'ones', {});
    const b = draw(`${path}.b`, [size(info.dim)], 'zeros', {});
    tensors.set(`${m.name}.g`, g).set(`${m.name}.b`, b);
    opts.record?.weights.push({ leaf: `${path}.g`, torch: `${path}.weight`, transpose: false }, { leaf: `${path}.b`, torch: `${path}.bias`, transpose: false });
    const trainable = trainsAnyway(opts, path);
    const axes = [showDim(info.dim)];
    return { kind: 'LayerNorm', g: env.ops.leaf('param', `${path}.g`, g, trainable, axes), b: env.ops.leaf('param', `${path}.b`, b, trainable, axes), path };
  }
  const settings: Record<string, number | boolean> = {};
  for (const [k, d] of info.dimArgs) settings[k] = size(d);
  for (const [k, e] of info.hyperArgs) {
    const v = evaluate(e, env);
    settings[k] = v.kind === 'bool' ? v.v : asNumber(v);
  }
  const count = info.repeat ? asNumber(evaluate(info.repeat, env)) : 1;
  const copies = Array.from({ length: count }, (_, i) => {
    const copy = info.repeat ? { concrete: `${path}.${i}.`, template: `${path}.*.`, index: i, count } : opts.copy;
    const sub = instantiate(checked, info.model.name, { ...opts, settings, copy }, info.repeat ? `${path}.${i}.` : `${path}.`, rng);
    for (const [k, t] of sub.tensors) tensors.set(info.repeat ? `${m.name}.${i}.${k}` : `${m.name}.${k}`, t);
    return { call: (x: Value) => callMethod(sub, 'forward', [x]) };
  });
  return { kind: 'model', copies };
}

/** Call a method (delta, forward, ...) of an instance; input dims are bound from the arguments. */
export function callMethod(inst: Instance, name: string, args: Value[]): Value {
  const m = inst.unit.methods.get(name);
  if (!m) fail('E-name', `${inst.unit.decl.name} has no method '${name}' (have: ${[...inst.unit.methods.keys()].join(', ')})`);
  const sizes = new Map(inst.env.sizes);
  const vars = new Map(inst.env.vars);
  m.params.forEach((p, i) => {
    const a = args[i];
    vars.set(p.name, a);
    if (p.type.kind === 'tensorType' && a.kind === 'tensor') {
      const shape = inst.env.ops.shape(a.t);
      if (shape.length !== p.type.dims.length) fail('E-shape', `input '${p.name}' has ${shape.length} axes but ${name} takes ${p.type.dims.length}`, p.span);
      p.type.dims.forEach((d, k) => {
        if (d.kind === 'dimName') {
          const known = sizes.get(d.name);
          if (known === undefined) sizes.set(d.name, shape[k]);
          else if (known !== shape[k]) fail('E-shape', `input '${p.name}' has ${d.name} = ${shape[k]} but ${d.name} is ${known}`, p.span);
        }
      });
    }
  });
  const out = evaluate(m.body, { ...inst.env, sizes, vars });
  return out;
}

/**
 * The leaf path of a parameter in a repeated copy: per layer, its own; shared across layers, the
 * copy index replaced by `*`; shared every k layers, by `j0-j1`, the copies sharing it.
 */
function sharedPath(path: string, sharing: A.Sharing, copy: InstanceOptions['copy'], env: Env): string {
  if (!copy || sharing.kind === 'perLayer' || sharing.kind === 'acrossModel' || !path.startsWith(copy.concrete)) return path;
  const rest = path.slice(copy.concrete.length);
  if (sharing.kind === 'acrossLayers') return `${copy.template}${rest}`;
  const k = asNumber(evaluate(sharing.count, env));
  if (!(k >= 1)) fail('E-hyper', `shared every ${k} layers: k must be at least 1`);
  const first = Math.floor(copy.index / k) * k;
  const last = Math.min(first + k, copy.count) - 1;
  return `${copy.template.replace('*', first === last ? `${first}` : `${first}-${last}`)}${rest}`;
}

/** A layer trains unless the base is frozen, or it is one the user named to train anyway (recorded). */
function trainsAnyway(opts: InstanceOptions, path: string): boolean {
  if (!opts.frozenBase) return true;
  if (!opts.trainable || matchTarget(opts.trainable, path) === undefined) return false;
  opts.record?.trained.push(path);
  return true;
}

/** The sizes an adapter's `on Linear[In, Out]` names take on a layer it is attached to by target. */
export function layerSizes(checked: CheckedProgram, adapter: string, In: number, Out: number, path: string): Record<string, number> {
  const base = checked.units.get(adapter)?.base;
  if (!base) fail('E-usage', `'${adapter}' is not an adapter on a Linear layer; it cannot be attached to ${path}`);
  const out: Record<string, number> = {};
  for (const [d, size] of [[base.inDim, In], [base.outDim, Out]] as const) {
    const [[key, coef] = ['', 0]] = [...d];
    if (d.size === 1 && coef === 1 && /^[A-Za-z_]\w*$/.test(key)) {
      if (key in out && out[key] !== size) fail('E-shape', `${adapter} needs a square layer (Linear[${key}, ${key}]) but ${path} is ${In}→${Out}`);
      out[key] = size;
    }
  }
  return out;
}

/**
 * The leaf path of a parameter of an adapter attached by target: PEFT's Lily sharing over the
 * layer's group (model order): `shared across layers` is the group's first layer's parameter,
 * `shared every k layers` layer k·⌊i/k⌋'s, per layer its own.
 */
function groupPath(prefix: string, name: string, sharing: A.Sharing, group: NonNullable<InstanceOptions['group']>, env: Env): string {
  const own = group.layers[group.index];
  const adapterPart = prefix.slice(own.length); // `.Lily.`
  if (sharing.kind === 'perLayer' || sharing.kind === 'acrossModel') return `${prefix}${name}`;
  if (sharing.kind === 'acrossLayers') return `${group.layers[0]}${adapterPart}${name}`;
  const k = asNumber(evaluate(sharing.count, env));
  if (!(k >= 1 && Number.isInteger(k))) fail('E-hyper', `shared every ${k} layers: k must be a whole number ≥ 1`);
  return `${group.layers[k * Math.floor(group.index / k)]}${adapterPart}${name}`;
}

/** Whether a model (or any model inside it) has adapters attached: then its weights are frozen. */
export function hasAdapters(checked: CheckedProgram, unit: UnitInfo, seen = new Set<string>()): boolean {
  if (seen.has(unit.decl.name)) return false;
  seen.add(unit.decl.name);
  for (const l of unit.layers.values()) {
    if (l.kind === 'Linear' && l.adapter) return true;
    if (l.kind === 'model' && hasAdapters(checked, checked.units.get(l.model.name)!, seen)) return true;
  }
  return false;
}

/**
 * Parse a parameter path made above for an attached adapter, `<layer>.<Adapter>.<param>`, where the
 * layer path may hold `*` or `a-b` for a copy index (shared parameters). Adapter names come from
 * the program, so the parse does not guess from spelling.
 */
export function adapterParamPath(checked: CheckedProgram, path: string): { layer: string; adapter: string; param: string } | undefined {
  const parts = path.split('.');
  if (parts.length < 3) return undefined;
  const adapter = parts[parts.length - 2];
  if (checked.units.get(adapter)?.decl.kind !== 'adapter') return undefined;
  return { layer: parts.slice(0, -2).join('.'), adapter, param: parts[parts.length - 1] };
}

/** Whether a layer path pattern (with `*` or `a-b` copy indices) covers a concrete layer path. */
export function layerPathCovers(pattern: string, concrete: string): boolean {
  const p = pattern.split('.');
  const c = concrete.split('.');
  return p.length === c.length && p.every((seg, i) => {
    if (seg === '*') return /^\d+$/.test(c[i]);
    const range = /^(\d+)-(\d+)$/.exec(seg);
    return range ? Number(c[i]) >= Number(range[1]) && Number(c[i]) <= Number(range[2]) : seg === c[i];
  });
}
