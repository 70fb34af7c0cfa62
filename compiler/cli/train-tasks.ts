// lily train's synthetic default data ("teacher"): for an adapter on one frozen layer, that layer
// with a hidden low-rank change; for a model with adapters attached, the same model with hidden
// low-rank changes in its adapted layers. Batch i is a pure function of (seed, i).
import { fail } from '../diagnostics.ts';
import type { CheckedProgram } from '../check/check.ts';
import { adapterParamPath, layerPathCovers } from '../interp/instance.ts';
import { runEntry } from '../interp/run.ts';
import { teacherModelTask, teacherTask, type TeacherTask } from '../../runtime/data/synthetic.ts';
import type { Trainer } from '../../runtime/train.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';

/** Default data for an adapter on one frozen layer: a teacher layer with a hidden low-rank change. */
export function layerTask(trainer: Trainer, adapter: string, N: number, seed: number): TeacherTask {
  const W0 = trainer.program.leaves.get('base.W');
  const b0 = trainer.program.leaves.get('base.b');
  if (!W0 || !b0) fail('E-usage', `${adapter} does not use its frozen layer; nothing to train against`);
  const [In, Out] = W0.shape;
  return teacherTask({ N, In, Out, W0: W0.data, b0: b0.data, seed });
}

/** Default data for a model with adapters attached: the same model with hidden low-rank changes in its adapted layers. */
export function modelTask(checked: CheckedProgram, model: string, dims: Record<string, number | boolean>, trainer: Trainer, seed: number): TeacherTask {
  const leaves = trainer.program.leaves;
  // The adapted layers: those some adapter parameter's layer path (possibly `*` or `a-b`) covers.
  const adapterLayers = [...leaves.keys()].flatMap((k) => adapterParamPath(checked, k)?.layer ?? []);
  const adapted = [...leaves.keys()].filter((k) => k.endsWith('.W') && adapterLayers.some((pattern) => layerPathCovers(pattern, k.slice(0, -2))));
  const x = leaves.get('x')!;
  const forward = (xv: Float64Array, weights: Map<string, { shape: number[]; data: Float64Array }>) => {
    // The teacher is the base alone (its adapters at their initial, zero-change values), whatever
    // the student starts from (--resume): only the base weights are given.
    const given = new Map<string, Tensor>([...weights].filter(([k]) => k !== 'x' && k !== 't' && !k.startsWith('arg:') && !/^[mv]:/.test(k) && !adapterParamPath(checked, k)));
    const out = runEntry(checked, model, { settings: dims, inputs: new Map([['x', { shape: x.shape, data: xv }]]), given, params: 'init' }).output;
    return (out as { t: Tensor }).t.data;
  };
  return teacherModelTask({ forward, leaves, adaptedWeights: adapted, xShape: x.shape, seed });
}
