// lily train's synthetic default data ("teacher"): for an adapter on one frozen layer, that layer
// with a hidden low-rank change; for a model with adapters attached, the same model with hidden
// low-rank changes in its adapted layers. Batch i is a pure function of (seed, i).
import { fail } from '../diagnostics.ts';
import type { ModelSetup } from './model-setup.ts';
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
export function modelTask(setup: ModelSetup, dims: Record<string, number | boolean>, trainer: Trainer, seed: number): TeacherTask {
  const leaves = trainer.program.leaves;
  const adapted = setup.record.adapted.map((l) => `${l.layer}.W`);
  const base = new Set(setup.record.weights.map((w) => w.leaf));
  const x = leaves.get('x')!;
  const forward = (xv: Float64Array, weights: Map<string, { shape: number[]; data: Float64Array }>) => {
    // The teacher is the base alone (the model without attached adapters, or with them at their
    // initial, zero-change values), whatever the student starts from: only base weights are given.
    const given = new Map<string, Tensor>([...weights].filter(([k]) => base.has(k)));
    const out = runEntry(setup.checked, setup.entry, { settings: dims, inputs: new Map([['x', { shape: x.shape, data: xv }]]), given, params: 'init' }).output;
    return (out as { t: Tensor }).t.data;
  };
  return teacherModelTask({ forward, leaves, adaptedWeights: adapted, xShape: x.shape, seed });
}
