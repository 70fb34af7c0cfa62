// Parameter counts: per parameter, the size of one copy times the number of copies that L adapted
// layers of one target hold, which follows from the sharing scope:
//   per layer -> L copies, shared every k layers -> ceil(L / k), shared across layers -> 1.
import type { CheckedProgram, UnitInfo } from './check/check.ts';
import { evalDim } from './check/dims.ts';
import { fail } from './diagnostics.ts';
import { evaluate } from './interp/eval.ts';
import { instantiate, resolveSettings } from './interp/instance.ts';
import { Graph } from './ir/graph.ts';
import { GraphOps } from './ir/graph-ops.ts';
import { asNumber } from './interp/values.ts';
import { emptyRecord, type TargetAttachment } from './interp/targets.ts';
import { Float64Ops } from './interp/ops.ts';

export interface ParamCount {
  name: string;
  shape: number[];
  trainable: boolean;
  sharing: string;
  perCopy: number;
  copies: number;
  total: number;
}

export interface UnitCount {
  unit: string;
  kind: 'adapter' | 'model';
  layers: number;
  params: ParamCount[];
  trainable: number;
  frozen: number;
}

/**
 * Trainable and frozen parameters of an adapter or model for `layers` adapted layers of one target,
 * with each parameter's sharing (per layer, shared every k layers, shared across layers).
 */
export function countParams(checked: CheckedProgram, unit: UnitInfo, settings: Record<string, number | boolean>, layers = 1, attach?: TargetAttachment, trainable?: string[]): UnitCount {
  if (!(layers >= 1 && Number.isInteger(layers))) fail('E-usage', `--layers must be a whole number ≥ 1, found ${layers}`);
  const params = unit.decl.kind === 'model' ? modelParams(checked, unit, settings, attach, trainable) : adapterParams(checked, unit, settings, layers);
  const sum = (f: (p: ParamCount) => boolean) => params.filter(f).reduce((a, p) => a + p.total, 0);
  return { unit: unit.decl.name, kind: unit.decl.kind, layers, params, trainable: sum((p) => p.trainable), frozen: sum((p) => !p.trainable) };
}

/** An adapter's declared parameters, each times the copies its sharing scope implies for L layers. */
function adapterParams(checked: CheckedProgram, unit: UnitInfo, settings: Record<string, number | boolean>, layers: number): ParamCount[] {
  const { sizes, hypers } = resolveSettings(checked, unit, settings);
  const env = { ops: Float64Ops, info: checked.info, sizes, vars: new Map(hypers), layers: new Map(), fns: checked.fns };
  return unit.params.map(({ decl, shape }): ParamCount => {
    let dims: number[];
    try {
      dims = shape.map((d) => evalDim(d, sizes));
    } catch (e) {
      return fail('E-hyper', `${unit.decl.name}.${decl.name}: ${(e as Error).message}`, decl.span);
    }
    const perCopy = dims.reduce((a, b) => a * b, 1);
    let copies = layers;
    let sharing = 'per layer';
    if (decl.sharing.kind === 'acrossLayers' || decl.sharing.kind === 'acrossModel') {
      copies = 1;
      sharing = decl.sharing.kind === 'acrossLayers' ? 'shared across layers' : 'shared across the model';
    } else if (decl.sharing.kind === 'every') {
      const k = asNumber(evaluate(decl.sharing.count, env));
      if (!(k >= 1)) fail('E-hyper', `shared every ${k} layers: k must be at least 1`, decl.span);
      copies = Math.ceil(layers / k);
      sharing = `shared every ${k} layers`;
    }
    return { name: decl.name, shape: dims, trainable: decl.trainable, sharing, perCopy, copies, total: perCopy * copies };
  });
}

/**
 * A model's parameters live in its layers, sub-models (once per repeat) and attached adapters: the
 * distinct leaves an instance creates, by path (fc1.W, blocks.0.q.W, blocks.*.q.Lily.B for one
 * shared across the copies). With adapters attached, the model's own weights are the frozen base.
 */
function modelParams(checked: CheckedProgram, unit: UnitInfo, settings: Record<string, number | boolean>, attach?: TargetAttachment, trainable?: string[]): ParamCount[] {
  const ops = new GraphOps(new Graph());
  const record = emptyRecord();
  instantiate(checked, unit.decl.name, { settings, ops, attach, record, trainable, params: 'shapes' });
  // How many adapted layers use each adapter leaf (a shared one is one leaf for several layers).
  const users = new Map<string, number>();
  for (const l of record.adapted) for (const leaf of l.params.values()) users.set(leaf, (users.get(leaf) ?? 0) + 1);
  return [...ops.values].map(([path, t]) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const k = users.get(path) ?? 1;
    const sharing = k > 1 ? `shared by ${k} layers` : path.includes('.*.') ? 'shared across layers' : /\.\d+-\d+\./.test(path) ? 'shared every k layers' : 'per layer';
    return { name: path, shape: t.shape, trainable: ops.trainable.has(path), sharing, perCopy: n, copies: 1, total: n };
  });
}
