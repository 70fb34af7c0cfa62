// `lily export --to torch`: a self-contained Python module (torch only) for one adapter — an
// nn.Module wrapping a base nn.Linear, with PEFT's parameter names and layouts where PEFT has the
// method (runtime/peft/methods.ts), our initialisers, PEFT's target matching and sharing
// (`inject`), merge/unmerge where the compiler finds the adapter mergeable, and PEFT-format state
// dicts. The forward is the compiled program (torch-forward.ts); the backward is torch autograd.
import type { CheckedProgram, UnitInfo } from '../check/check.ts';
import { fail } from '../diagnostics.ts';
import type * as A from '../syntax/ast.ts';
import { evaluate, type Env } from '../interp/eval.ts';
import { resolveSettings } from '../interp/instance.ts';
import { Float64Ops } from '../interp/ops.ts';
import { asNumber } from '../interp/values.ts';
import { mergeVerdict } from '../analysis/mergeable.ts';
import { getInitializer } from '../../runtime/init/initializers.ts';
import { PEFT_METHODS, type Layout, type PeftMethod } from '../../runtime/peft/methods.ts';
import { TORCH_LAYOUTS } from './torch-layouts.ts';
import { compiledGraph, renderForward, pyTuple } from './torch-forward.ts';
import { printGraph } from '../ir/print.ts';
import { fromParams, initGraph } from './torch-init.ts';
import { Py } from './torch-prims.ts';
import { pyDim, pyFloat, pyMonomial } from './torch-symbolic.ts';
import { PY_RUNTIME } from './torch-runtime-py.ts';

export interface TorchExportOptions {
  settings: Record<string, number | boolean>;
  /** For the header: the source file as given and its SHA-256. */
  file: string;
  sha256: string;
  /**
   * Which PEFT method the adapter computes (runtime/peft/identify.ts: by its outputs, not its name);
   * without it, only the stdlib file's own adapters count as PEFT's.
   */
  identify?: (checked: CheckedProgram, adapter: string, settings: Record<string, number | boolean>) => PeftMethod | undefined;
  /**
   * 'autograd' (default): torch's, over the compiled forward. 'compiled': a torch.autograd.Function
   * runs the compiler's backward program. Measured side by side (bench/torch-backward.ts) they are
   * within noise for Lily and LoRA and the compiled one is slower for DoRA, so autograd is the default.
   */
  backward?: 'compiled' | 'autograd';
}

export interface TorchExport {
  code: string;
  /** The adapter's forward function and class alone (for a model file that holds it). */
  body: string;
  /** What the export decided, for messages and the check. */
  info: { adapter: string; peftType?: string; free: string[]; fixed: Record<string, string>; trainDiffers: boolean; mergeable: boolean; mergeReason: string; keys: Record<string, { key: string; layout: Layout }> };
}

/** Names a wrapper already uses: a parameter key must not shadow them. */
const RESERVED = new Set(['base_layer', 'lily_step', 'draws', 'init_from_base', 'forward', 'training', 'merged', 'hypers', 'dims', 'merge', 'unmerge', 'lily_params', 'extra_repr', 'state_dict', 'parameters', 'to', 'double', 'float', 'train', 'eval', 'weight', 'bias']);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Module-level names of the generated file (torch-runtime-py.ts): an adapter class must not shadow them. */
const MODULE_NAMES = new Set(['LilyAdapter', 'advance_step', 'param_groups', 'ADAPTERS', 'LILY_SOURCE', 'LILY_SHA256', 'inject', 'peft_state_dict', 'load_peft_state_dict', 'torch', 'nn', 'F', 'math', 're', 'None', 'True', 'False']);
/** Sizes the program is compiled at unless --dims says otherwise (unequal: no ties between orders). */
export const EXPORT_DEFAULTS = { N: 32, In: 64, Out: 48 };

export function exportAdapterToTorch(checked: CheckedProgram, adapter: string, opts: TorchExportOptions): TorchExport {
  const unit = checked.units.get(adapter);
  if (!unit || unit.decl.kind !== 'adapter') fail('E-name', `no adapter named '${adapter}' in ${opts.file}`, undefined, { expected: [...checked.units.values()].filter((u) => u.decl.kind === 'adapter').map((u) => u.decl.name).join(', ') });
  if (!IDENT.test(adapter) || adapter.startsWith('_') || MODULE_NAMES.has(adapter) || RESERVED.has(adapter))
    fail('E-export', `adapter name '${adapter}' clashes with a name the generated Python module uses (${[...MODULE_NAMES].slice(0, 7).join(', ')}, …); rename the adapter`, unit.decl.span);
  const decl = unit.decl as A.AdapterDecl;
  const settings: Record<string, number | boolean> = { ...EXPORT_DEFAULTS, ...opts.settings };
  const { sizes, hypers } = resolveSettings(checked, unit, settings);
  const dimHypers = decl.hypers.filter((h) => h.hyper === 'Dim').map((h) => h.name);
  const full: Record<string, number | boolean> = { ...settings };
  for (const [k, v] of sizes) full[k] = v;
  for (const [k, v] of hypers) if (v.kind === 'num' || v.kind === 'bool') full[k] = v.v;

  const method = opts.identify ? opts.identify(checked, adapter, full) : PEFT_METHODS.find((m) => m.adapter === adapter && opts.file.replace(/\\/g, '/').endsWith(m.stdlib));
  const paramDecls = decl.members.filter((m): m is A.ParamDecl => m.kind === 'param');
  const keys: TorchExport['info']['keys'] = {};
  for (const p of paramDecls) {
    const t = method?.tensors.find((x) => x.param === p.name);
    keys[p.name] = t ? { key: t.key, layout: t.layout } : { key: `${adapter}.${p.name}`, layout: 'same' };
  }
  const seen = new Map<string, string>();
  for (const [name, { key }] of Object.entries(keys)) {
    const head = key.split('.')[0];
    if (seen.has(key)) fail('E-export', `parameters '${seen.get(key)}' and '${name}' of ${adapter} would both be stored as '${key}'`, decl.span);
    if (RESERVED.has(head) || !key.split('.').every((s) => IDENT.test(s))) fail('E-export', `parameter '${name}' of ${adapter} would be stored as '${key}', which clashes with a name the PyTorch wrapper uses (or is not a Python name); rename it`, paramDecls.find((p) => p.name === name)!.span);
    seen.set(key, name);
  }

  // Init arguments, evaluated at given settings (they may depend on sizes, fitted like the rest).
  const initArgs = (s: Record<string, number | boolean>) => initArgsOf(checked, unit, s, paramDecls);
  const argNames = initArgs(full).map((xs) => xs.map((x) => x.n));
  const dims = ['N', 'In', 'Out', ...dimHypers];
  const compiledBackward = opts.backward === 'compiled';
  // A parameter shared across the model is the leaf `Adapter.name` (compiler/interp/instance.ts)
  const paramName = (leaf: string) => (leaf.startsWith(`${adapter}.`) && paramDecls.some((p) => p.sharing.kind === 'acrossModel' && `${adapter}.${p.name}` === leaf) ? leaf.slice(adapter.length + 1) : leaf);
  // Parameter shapes as declared ([max(In, Out), r] for SingLoRA), where they can be spelled in
  // Python; else fitted with the program.
  const dimPy = (d: string) => `D['${d}']`;
  const declared = paramDecls.map((p) => unit.params.find((x) => x.decl === p)!.shape.map((d) => pyDim(d, dimPy)));
  const declaredParamShapes = declared.every((xs) => xs.every((x) => x !== undefined));
  const fwd = renderForward(compiledGraph(checked, adapter), { what: `adapter ${adapter}`, backward: compiledBackward, settings: full, dims, fnName: `_${adapter}_forward`, paramName, declaredParamShapes, extraNumbers: (s) => initArgs(s).flatMap((xs) => xs.map((x) => x.v)) });
  // Training mode (dropout draws, `training` read by the program): its own forward where it differs
  // (rendered, and fitted, only then).
  const sameInTraining = printGraph(compiledGraph(checked, adapter, true)(full)) === printGraph(compiledGraph(checked, adapter)(full));
  const train = sameInTraining ? undefined : renderForward(compiledGraph(checked, adapter, true), { what: `adapter ${adapter}`, backward: compiledBackward, settings: full, dims, fnName: `_${adapter}_forward_train`, paramName, declaredParamShapes });
  const trainDiffers = !!train && train.code.replace(/_forward_train/g, '_forward') !== fwd.code;
  // `from` initialisers: computed in torch from the wrapped layer (torch-init.ts).
  const froms = fromParams(decl);
  const init = froms.length
    ? renderForward((s) => initGraph(checked, unit, s), { what: `the initialisers of ${adapter}`, settings: full, dims: dims.filter((d) => d !== 'N'), declaredParamShapes: true, fnName: `_${adapter}_init`, results: froms.map((p) => `init:${p.name}`), like: `dtype=P["base.W"].dtype, device=P["base.W"].device` })
    : undefined;
  const fixedAll: Record<string, string> = { ...fwd.fit.fixed, ...(trainDiffers ? train!.fit.fixed : {}), ...(init?.fit.fixed ?? {}) };
  const freeAll = fwd.fit.free.filter((d) => !(d in fixedAll));
  let e = 0;
  const initPy = argNames.map((ns) => `{${ns.map((n) => `'${n}': ${pyMonomial(fwd.extra[e++], dimPy, false)}`).join(', ')}}`);

  // Hyper-parameters: Dims the fit keeps free, Ints that do not change the program (sharing
  // counts), may change in inject; the others are fixed at their export values.
  const freeHypers = new Set(dimHypers.filter((d) => freeAll.includes(d)));
  for (const h of decl.hypers.filter((h) => h.hyper === 'Int')) {
    const probe = (v: number) => JSON.stringify(renderForward(compiledGraph(checked, adapter), { settings: { ...full, [h.name]: v }, dims: [], fnName: 'f' }).code);
    try {
      if (probe((full[h.name] as number) + 1) === probe(full[h.name] as number)) freeHypers.add(h.name);
    } catch {
      /* not free */
    }
  }
  const verdict = mergeVerdict(checked, adapter, { ...full, N: 3 });
  const byName = new Map(fwd.params.map((p) => [p.name, p]));
  const specs = paramDecls.map((p, i) => {
    const leaf = byName.get(p.name);
    if (!leaf) fail('E-export', `parameter '${p.name}' of ${adapter} is not used by its forward`, p.span);
    const shape = declaredParamShapes ? `(${declared[i].join(', ')}${declared[i].length === 1 ? ',' : ''})` : leaf.shape;
    const sharing = p.sharing.kind === 'perLayer' ? `('layer',)` : p.sharing.kind === 'acrossLayers' ? `('across',)` : p.sharing.kind === 'acrossModel' ? `('model',)` : `('every', ${sharingCount(p.sharing.count, full)})`;
    const k = keys[p.name];
    const layout = TORCH_LAYOUTS[k.layout];
    return {
      py: `        ${JSON.stringify(p.name)}: dict(key=${JSON.stringify(k.key)}, shape=lambda D: ${shape}, init=${p.init.from ? 'None' : JSON.stringify(p.init.name)}, args=lambda D: ${initPy[i]}, sharing=${sharing}, trainable=${p.trainable ? 'True' : 'False'},\n            to_ours=lambda self, v, s: ${layout.toOurs('v', 's')}, from_ours=lambda self, v, s: ${layout.fromOurs('v', 's')}, grad_to_ours=lambda g, s: ${layout.gradToOurs('g', 's')}),`,
    };
  });
  const hyperValues = decl.hypers.map((h) => `${JSON.stringify(h.name)}: ${h.hyper === 'Float' ? pyFloat(full[h.name] as number) : pyValue(full[h.name])}`).join(', ');
  const lrRatios = paramDecls.filter((p) => p.lrScale).map((p) => `${JSON.stringify(p.name)}: ${pyFloat(asNumber(evaluate(p.lrScale!, envOf(checked, unit, full))))}`);
  const fixedDims = Object.entries(fixedAll).map(([d, why]) => `${JSON.stringify(d)}: (${full[d]}, ${JSON.stringify(why)})`).join(', ');
  const header = [
    `# Generated by \`lily export --to torch\` from ${opts.file} (sha256 ${opts.sha256}), adapter ${adapter}.`,
    `# Do not edit: export again. Needs only torch.`,
    `# Forward: Lily's compiled program after the \`contract\` stage (its rewrites and contraction orders, as`,
    `# \`lily compile --explain\` reports them), generic in ${freeAll.join(', ') || 'nothing'}${Object.keys(fixedAll).length ? `; fixed at export: ${Object.keys(fixedAll).map((d) => `${d}=${full[d]}`).join(', ')}` : ''}.`,
    `# Backward: ${compiledBackward ? "the compiler's backward program, in a torch.autograd.Function" : 'torch autograd'}. Parameters: ${method ? `PEFT's names and layouts (peft_type ${method.peftType})` : `Lily's names and layouts under '${adapter}.' (PEFT has no such method)`}.`,
  ];
  const body = [
    fwd.code,
    '',
    '',
    ...(trainDiffers ? [train!.code, '', ''] : []),
    ...(init ? [init.code, '', ''] : []),
    `class ${adapter}(LilyAdapter):`,
    `    """${adapter} from ${opts.file}, wrapping an nn.Linear (y = base(x) ${unit.methods.has('delta') ? '+ delta(x)' : 'replaced by forward(x)'})."""`,
    `    ADAPTER = ${JSON.stringify(adapter)}`,
    `    PEFT_TYPE = ${method ? JSON.stringify(method.peftType) : 'None'}`,
    `    FORM = ${JSON.stringify(unit.methods.has('delta') ? 'delta' : 'forward')}`,
    `    HYPERS = {${hyperValues}}`,
    `    FREE_HYPERS = (${[...freeHypers].map((h) => JSON.stringify(h)).join(', ')}${freeHypers.size === 1 ? ',' : ''})`,
    `    DIM_HYPERS = (${dimHypers.map((h) => JSON.stringify(h)).join(', ')}${dimHypers.length === 1 ? ',' : ''})`,
    `    FIXED_DIMS = {${fixedDims}}`,
    `    MERGEABLE = ${verdict.mergeable ? 'True' : 'False'}`,
    `    MERGE_REASON = ${JSON.stringify(verdict.reason)}`,
    `    PARAMS = {`,
    ...specs.map((s) => s.py),
    `    }`,
    // PEFT's adapter_config.json for this method (runtime/peft/methods.ts): fields, defaults, names
    `    PEFT_CONFIG = ${method ? pyJson({ peft_type: method.peftType, ...method.defaults, ...method.variant }) : 'None'}`,
    `    PEFT_HYPERS = {${(method?.hypers ?? []).map((h) => `${JSON.stringify(h.ours)}: ${JSON.stringify(h.peft)}`).join(', ')}}`,
    `    LR_RATIOS = {${lrRatios.join(', ')}}`,
    `    _forward = staticmethod(_${adapter}_forward)`,
    `    _backward = ${compiledBackward ? `staticmethod(_${adapter}_forward_backward)` : 'None'}`,
    `    _forward_train = ${trainDiffers ? `staticmethod(_${adapter}_forward_train)` : '_forward'}`,
    `    _backward_train = ${!compiledBackward ? 'None' : trainDiffers ? `staticmethod(_${adapter}_forward_train_backward)` : '_backward'}`,
    `    _init = ${init ? `staticmethod(_${adapter}_init)` : 'None'}`,
  ].join('\n');
  const code = [...header, `LILY_SOURCE = ${JSON.stringify(opts.file)}`, `LILY_SHA256 = ${JSON.stringify(opts.sha256)}`, PY_RUNTIME, '', body, '', '', `ADAPTERS = {${JSON.stringify(adapter)}: ${adapter}}`, ''].join('\n');
  return {
    code,
    body,
    info: { adapter, peftType: method?.peftType, free: freeAll, fixed: fixedAll, trainDiffers, mergeable: verdict.mergeable, mergeReason: verdict.reason, keys },
  };
}

/** Each parameter's initialiser arguments (defaults filled in), evaluated at the given settings. */
export function initArgsOf(checked: CheckedProgram, unit: UnitInfo, s: Record<string, number | boolean>, decls: A.ParamDecl[]): { n: string; v: number }[][] {
  const env = envOf(checked, unit, s);
  return decls.map((p) => {
    if (p.init.from) return [];
    const names = getInitializer(p.init.name).params.map((x) => x.name);
    const args: Record<string, number> = {};
    p.init.args.filter((a) => !a.name).forEach((a, i) => (args[names[i]] = asNumber(evaluate(a.value, env))));
    for (const a of p.init.args) if (a.name) args[a.name] = asNumber(evaluate(a.value, env));
    for (const x of getInitializer(p.init.name).params) if (args[x.name] === undefined && x.default !== undefined) args[x.name] = x.default;
    return names.filter((n) => args[n] !== undefined).map((n) => ({ n, v: args[n] }));
  });
}

/** The unit's hyper-parameters and sizes as variables (initialiser arguments, `lr * ratio`). */
function envOf(checked: CheckedProgram, unit: UnitInfo, s: Record<string, number | boolean>): Env {
  const r = resolveSettings(checked, unit, s);
  const env: Env = { ops: Float64Ops, info: checked.info, sizes: r.sizes, vars: new Map(r.hypers), layers: new Map(), fns: checked.fns };
  for (const [k, v] of r.sizes) if (!env.vars.has(k)) env.vars.set(k, { kind: 'num', v });
  return env;
}

/** JSON as a Python literal (None/True/False). */
const pyJson = (v: unknown): string => {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' || typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pyJson).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}: ${pyJson(x)}`).join(', ')}}`;
};

const pyValue = (v: unknown) => (typeof v === 'boolean' ? (v ? 'True' : 'False') : typeof v === 'number' ? (Number.isInteger(v) ? `${v}` : pyFloat(v)) : 'None');

/** `shared every k layers`: k is a hyper-parameter's name (it may change in inject) or a number. */
function sharingCount(e: A.Expr, settings: Record<string, number | boolean>): string {
  if (e.kind === 'var') return JSON.stringify(e.name);
  const lit = (e as { kind: string; value?: number }).value;
  if (typeof lit === 'number') return `${lit}`;
  return fail('E-export', `'shared every … layers' with a computed count cannot be exported (use a hyper-parameter or a number)`, (e as { span?: A.Span }).span);
}

export { Py, pyTuple };
