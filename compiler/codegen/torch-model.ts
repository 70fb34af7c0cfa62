// `lily export --model NAME --to torch`: a `.lily` model as an nn.Module whose layers are real
// nn.Linear / nn.LayerNorm modules under PyTorch's names (`fc1.weight` [out, in], `ln.weight`), so
// that its state dict is the one PyTorch users know and inject() (from an exported adapter) can
// wrap its Linear layers. The forward is the model's program, lowered with each plain layer kept as
// one module call and simplified; batch dimensions of x stay free.
import type { CheckedProgram } from '../check/check.ts';
import { fail } from '../diagnostics.ts';
import { emptyRecord } from '../interp/targets.ts';
import { runEntry } from '../interp/run.ts';
import type { TT } from '../interp/ops.ts';
import { Graph } from '../ir/graph.ts';
import { GraphOps } from '../ir/graph-ops.ts';
import { rebuild } from '../rewrite/engine.ts';
import { SIMPLIFY_RULES } from '../rewrite/rules-simplify.ts';
import { renderForward } from './torch-forward.ts';
import { PY_RUNTIME } from './torch-runtime-py.ts';
import { exportAdapterToTorch, initArgsOf, type TorchExport, type TorchExportOptions } from './torch-module.ts';
import type * as A from '../syntax/ast.ts';
import type { ModuleRecord } from '../interp/targets.ts';

/** GraphOps that keep a model's plain layers as module calls. */
class ModuleGraphOps extends GraphOps {
  moduleCall = (kind: 'Linear' | 'LayerNorm', path: string, x: TT, outShape: number[]) => this.g.add('module_call', [x as number], { kind, path, shape: outShape });
}

function lowerModel(checked: CheckedProgram, model: string, settings: Record<string, number | boolean>) {
  const graph = new Graph();
  const ops = new ModuleGraphOps(graph);
  const record = emptyRecord();
  const { output } = runEntry(checked, model, { settings, ops, params: 'init', record });
  if (output.kind !== 'tensor') fail('E-export', `${model}.forward does not return a tensor`);
  graph.outputs.set('y', output.t as number);
  return { graph: rebuild(graph, SIMPLIFY_RULES).graph, record, values: ops.values };
}

export function exportModelToTorch(checked: CheckedProgram, model: string, opts: TorchExportOptions): { code: string; info: { free: string[]; layers: string[] } } {
  const unit = checked.units.get(model);
  if (!unit || unit.decl.kind !== 'model') fail('E-name', `no model named '${model}' in ${opts.file}`, undefined, { expected: [...checked.units.values()].filter((u) => u.decl.kind === 'model').map((u) => u.decl.name).join(', ') || 'none' });
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(model) || ['LilyAdapter', 'ADAPTERS', 'MODELS'].includes(model)) fail('E-export', `model name '${model}' clashes with a name the generated Python module uses`, unit.decl.span);
  const fwdDecl = unit.methods.get('forward') ?? fail('E-export', `${model} has no forward`, unit.decl.span);
  const xType = fwdDecl.params[0]?.type;
  if (fwdDecl.params.length !== 1 || xType?.kind !== 'tensorType') fail('E-export', `${model}.forward must take one tensor x to be exported`, fwdDecl.span);
  const hypers = new Set(unit.decl.hypers.map((h) => h.name));
  // The batch dimensions of x (N; B, T) stay free; the model's own sizes are its modules'.
  const xDims = xType.dims.map((d) => (d.kind === 'dimName' && !hypers.has(d.name) ? d.name : null));
  const batch = xDims.filter((d): d is string => d !== null);
  const settings: Record<string, number | boolean> = { ...opts.settings };
  for (const d of batch) settings[d] ??= 8;
  const base = lowerModel(checked, model, settings);
  // Adapters attached in the source (`with`): their classes go in the file, and the model wraps
  // those layers at construction; a shared parameter (one IR leaf) is one nn.Parameter.
  const adapterBodies = new Map<string, TorchExport>();
  for (const a of base.record.adapted) if (!adapterBodies.has(a.adapter)) adapterBodies.set(a.adapter, exportForLayers(checked, a.adapter, base.record.adapted.filter((b) => b.adapter === a.adapter), opts, unit.decl.span));
  const attached = base.record.adapted.map((a) => {
    const hypers = Object.entries(a.settings).map(([k, v]) => `${JSON.stringify(k)}: ${typeof v === 'boolean' ? (v ? 'True' : 'False') : v}`);
    const leaves = [...a.params].map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    return `        (${JSON.stringify(a.layer)}, ${JSON.stringify(a.adapter)}, {${hypers.join(', ')}}, {${leaves.join(', ')}}),`;
  });
  const fwd = renderForward((s) => lowerModel(checked, model, s).graph, { what: `model ${model}`, settings, dims: batch, fnName: `_${model}_forward` });
  const ownParams = unit.decl.members.filter((m): m is A.ParamDecl => m.kind === 'param');
  const ownArgs = initArgsOf(checked, unit, settings, ownParams);
  const layers: string[] = [];
  const params: string[] = [];
  const leafMap: string[] = [];
  for (const w of base.record.weights) {
    const v = base.values.get(w.leaf)!;
    if (w.transpose && w.torch.endsWith('.weight')) layers.push(`        (${JSON.stringify(w.torch.slice(0, -7))}, "Linear", (${v.shape[0]}, ${v.shape[1]})),`);
    else if (w.leaf.endsWith('.g')) layers.push(`        (${JSON.stringify(w.torch.slice(0, -7))}, "LayerNorm", (${v.shape[0]},)),`);
    else if (!w.torch.endsWith('.bias')) {
      const i = ownParams.findIndex((p) => p.name === w.torch);
      if (i < 0) fail('E-export', `${model}: parameter '${w.torch}' belongs to a nested model; only the exported model's own parameters can be exported yet`, unit.decl.span);
      params.push(`        ${JSON.stringify(w.torch)}: ((${v.shape.join(', ')}${v.shape.length === 1 ? ',' : ''}), ${JSON.stringify(ownParams[i].init.name)}, {${ownArgs[i].map((a) => `${JSON.stringify(a.n)}: ${a.v}`).join(', ')}}),`);
    }
    leafMap.push(`        ${JSON.stringify(w.leaf)}: (${JSON.stringify(w.torch)}, ${w.transpose ? 'True' : 'False'}),`);
  }
  const fixed = Object.entries(fwd.fit.fixed);
  if (fixed.length) fail('E-export', `${model}'s forward cannot be made generic in ${fixed.map(([d, why]) => `${d} (${why})`).join(', ')}`, unit.decl.span);
  const code = [
    `# Generated by \`lily export --to torch\` from ${opts.file} (sha256 ${opts.sha256}), model ${model}.`,
    `# Do not edit: export again. Needs only torch. Layers are nn.Linear / nn.LayerNorm under PyTorch's names;`,
    `# the forward is the model's program (simplified), generic in ${batch.join(', ')}. Backward: torch autograd.`,
    `LILY_SOURCE = ${JSON.stringify(opts.file)}`,
    `LILY_SHA256 = ${JSON.stringify(opts.sha256)}`,
    PY_RUNTIME,
    '',
    ...[...adapterBodies.values()].flatMap((e) => [e.body, '', '']),
    `ADAPTERS = {${[...adapterBodies.keys()].map((k) => `${JSON.stringify(k)}: ${k}`).join(', ')}}`,
    '',
    fwd.code,
    '',
    '',
    `class ${model}(LilyModel):`,
    `    """${model} from ${opts.file}."""`,
    `    LAYERS = [`,
    ...layers,
    `    ]`,
    `    PARAMS = {`,
    ...params,
    `    }`,
    `    LEAVES = {`,
    ...leafMap,
    `    }`,
    `    ATTACHED = [`,
    ...attached,
    `    ]`,
    `    X_DIMS = (${xDims.map((d) => (d === null ? "None" : JSON.stringify(d))).join(', ')}${xDims.length === 1 ? ',' : ''})`,
    `    _forward = staticmethod(_${model}_forward)`,
    '',
    '',
    `MODELS = {${JSON.stringify(model)}: ${model}}`,
    '',
  ].join('\n');
  return { code, info: { free: fwd.fit.free, layers: layers.length ? base.record.weights.filter((w) => w.transpose).map((w) => w.torch.slice(0, -7)) : [] } };
}

/**
 * One class for every layer an adapter is attached to: exported at one layer's sizes (a non-square
 * one first: equal sizes tie contraction orders, which fixes them) such that what the export fixes
 * fits every layer; else a located error, rather than a module that refuses to build.
 */
function exportForLayers(checked: CheckedProgram, adapter: string, layers: ModuleRecord['adapted'], opts: TorchExportOptions, span: A.Span): TorchExport {
  const sizes = (a: ModuleRecord['adapted'][number]): Record<string, number | boolean> => ({ ...a.settings, In: a.In, Out: a.Out });
  const candidates = [...layers].sort((a, b) => Number(a.In === a.Out) - Number(b.In === b.Out));
  let last: TorchExport | undefined;
  for (const c of candidates) {
    const ex = exportAdapterToTorch(checked, adapter, { ...opts, settings: sizes(c) });
    if (layers.every((l) => Object.keys(ex.info.fixed).every((d) => d === 'N' || sizes(l)[d] === sizes(c)[d]))) return ex;
    last = ex;
  }
  const fixed = Object.keys(last!.info.fixed).filter((d) => d !== 'N');
  return fail('E-export', `${adapter} is attached to layers of different sizes (${layers.map((l) => `${l.layer} ${l.In}×${l.Out}`).join(', ')}), but its compiled program is fixed in ${fixed.join(', ')}: one class cannot serve them all (attach it to layers of one size, or export the adapter alone with --dims)`, span);
}
