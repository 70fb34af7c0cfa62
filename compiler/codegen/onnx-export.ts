// `lily export --to onnx`: the inference graph of an adapted layer — the merged weight where the
// compiler finds the adapter mergeable (y = x W' + b'), else the base plus the compiled adapter
// program — with the batch size N free, opset 17, built with onnx-proto (protobufjs).
import type { CheckedProgram } from '../check/check.ts';
import { fail } from '../diagnostics.ts';
import { mergeVerdict } from '../analysis/mergeable.ts';
import { compile } from '../pipeline.ts';
import { OnnxGraph, OnnxUnsupported } from './onnx-graph.ts';
import { ONNX_PRIMS } from './onnx-prims.ts';
import { fitNodes, Sym } from './torch-forward.ts';
import { EXPORT_DEFAULTS } from './torch-module.ts';

export interface OnnxExportOptions {
  settings: Record<string, number | boolean>;
  /** Parameter values: each initialiser's, or random (checks). */
  params: 'init' | 'random';
  seed?: number;
  file: string;
  sha256: string;
}

export function exportAdapterToOnnx(checked: CheckedProgram, adapter: string, opts: OnnxExportOptions): { bytes: Uint8Array; merged: boolean; reason: string; inputs: string[] } {
  const unit = checked.units.get(adapter);
  if (!unit || unit.decl.kind !== 'adapter') fail('E-name', `no adapter named '${adapter}' in ${opts.file}`);
  const settings = { ...EXPORT_DEFAULTS, ...opts.settings };
  const seed = opts.seed ?? 0;
  const p = compile(checked, adapter, { settings, seed, params: opts.params, skip: ['hoist'] });
  const W = p.leaves.get('base.W')!;
  const b = p.leaves.get('base.b')!;
  const [In, Out] = W.shape;
  const g = new OnnxGraph('x');
  // A program reading `step` (SingLoRA's ramp) takes it as a second graph input, and is not merged
  // (a merged weight would hold one step's update).
  const readsStep = p.graph.live().some((id) => p.graph.node(id).op === 'input' && p.graph.node(id).attrs.name === 'step');
  const merge = mergeVerdict(checked, adapter, settings, seed, opts.params);
  const verdict = readsStep && merge.mergeable ? { ...merge, mergeable: false, reason: 'it reads the optimiser step, a graph input' } : merge;
  const doc = `lily export --to onnx: ${adapter} from ${opts.file} (sha256 ${opts.sha256}); ${verdict.mergeable ? 'merged into the base weight' : 'base + adapter'}: ${verdict.reason}`;
  let y: string;
  if (verdict.mergeable) {
    // W' = W0 + ΔW, b' = b0 + Δb (ΔW = f(I) − f(0) − W0 for forward adapters, as mergeVerdict gives it)
    const Wm = W.data.map((v, i) => v + verdict.deltaW!.data[i]);
    const bm = b.data.map((v, i) => v + (verdict.deltaB?.data[i] ?? 0));
    y = g.node('Add', [g.node('MatMul', ['x', g.floats(Wm, [In, Out], 'W')]), g.floats(bm, [Out], 'b')]);
  } else {
    try {
      y = renderGraph(g, checked, adapter, settings, seed, opts.params, p.leaves);
    } catch (e) {
      if (e instanceof OnnxUnsupported) fail('E-export', `${adapter} uses ${e.message}, which the ONNX export cannot express`, unit.decl.span);
      throw e;
    }
    if (unit.methods.has('delta')) y = g.node('Add', [g.node('Add', [g.node('MatMul', ['x', leafName(g, 'base.W', p.leaves)]), leafName(g, 'base.b', p.leaves)]), y]);
  }
  return { bytes: g.model(y, ['N', In], ['N', Out], doc), merged: verdict.mergeable, reason: verdict.reason, inputs: ['x', ...g.extraInputs.map((i) => i.name)] };
}

const leafNames = new WeakMap<OnnxGraph, Map<string, string>>();
function leafName(g: OnnxGraph, name: string, leaves: Map<string, { shape: number[]; data: ArrayLike<number> }>): string {
  const names = leafNames.get(g) ?? new Map<string, string>();
  leafNames.set(g, names);
  if (!names.has(name)) {
    const v = leaves.get(name) ?? fail('E-export', `no value for '${name}'`);
    names.set(name, g.floats(v.data, v.shape, name));
  }
  return names.get(name)!;
}

function renderGraph(g: OnnxGraph, checked: CheckedProgram, adapter: string, settings: Record<string, number | boolean>, seed: number, params: 'init' | 'random', leaves: Map<string, { shape: number[]; data: ArrayLike<number> }>): string {
  const { nodes, attrs, fit } = fitNodes((s) => compile(checked, adapter, { settings: s, seed, params, skip: ['hoist'] }).graph, { settings, dims: ['N'], what: `adapter ${adapter}` });
  if (fit.fixed.N) throw new OnnxUnsupported(`a program that changes with the batch size (${fit.fixed.N})`);
  const names: string[] = [];
  const scalar: boolean[] = [];
  nodes.forEach((n, i) => {
    const a = attrs[i];
    const ins = n.in ? n.in.split(',').map(Number) : [];
    if (n.op === 'input') {
      if (n.attrs.name === 'step') names.push(g.input('step', []));
      else if (n.attrs.name !== 'x') throw new OnnxUnsupported(`an input '${n.attrs.name}' besides x`);
      else names.push('x');
    } else if (n.op === 'param') names.push(leafName(g, n.attrs.name as string, leaves));
    else {
      const prim = ONNX_PRIMS[n.op] ?? (() => {
        throw new OnnxUnsupported(`the primitive '${n.op}'`);
      })();
      names.push(prim.render({ g, args: ins.map((j) => names[j]), attrs: a, shapes: ins.map((j) => attrs[j].shape as Sym[]), scalar: ins.map((j) => scalar[j]) }));
    }
    scalar.push(n.op === 'const');
  });
  return names[names.length - 1];
}
