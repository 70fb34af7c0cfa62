// The training runtime: compile an adapter on a frozen linear layer into one fused training step
// (forward, loss, backward, optimiser update) and run it on a backend:
//   const trainer = await compileTraining(checked, 'Lily', { dims, backend });
//   const loss = await trainer.step({ x, t });
import type { CheckedProgram } from '../compiler/check/check.ts';
import { planKernels } from '../compiler/fuse/fuse.ts';
import type { KernelPlan } from '../compiler/fuse/kernel-ir.ts';
import { DEFAULT_ADAMW, type OptimizerConfig } from '../compiler/objective.ts';
import { compile, flopsSplit, type Program } from '../compiler/pipeline.ts';
import type { ModuleRecord, TargetAttachment } from '../compiler/interp/targets.ts';
import type { Backend, Executable } from './executable.ts';
import { referenceBackend } from './backends/reference-exec.ts';
import type { Tensor } from './tensor/index.ts';

export interface TrainOptions {
  /** Sizes and hyper-parameters; N is the batch size (rows of x). */
  dims: Record<string, number | boolean>;
  backend?: Backend;
  optimizer?: OptimizerConfig;
  seed?: number;
  loss?: 'mse' | 'xent';
  /** Skip the contraction optimiser (the naive program, for comparison). */
  naive?: boolean;
  /** Initial parameters: each initialiser (default) or random N(0, 0.25) everywhere (for checks). */
  params?: 'init' | 'random';
  /** Initial values by parameter path, e.g. from a checkpoint (`loadAdapter`). */
  given?: Map<string, Tensor>;
  /** An adapter attached to the model's matching Linear layers (PEFT's target_modules). */
  attach?: TargetAttachment;
  /** Filled in while compiling: base weights by PyTorch name, adapted layers and their leaves. */
  record?: ModuleRecord;
  /** Also keep these outputs readable after a step (e.g. 'grad:A', 'y'). */
  keep?: string[] | 'gradients';
}

export interface Trainer {
  program: Program;
  plan: KernelPlan;
  exec: Executable;
  /** One step on a batch; returns the loss before the update. */
  step(batch: { x: Float32Array; t: Float32Array }): Promise<number>;
  read(name: string): Promise<Float32Array>;
  /** Current values of the trainable parameters. */
  parameters(): Promise<Map<string, Float32Array>>;
  /** The same, with shapes (for checkpoints). */
  namedParameters(): Promise<Map<string, { shape: number[]; data: Float32Array }>>;
  flops: { forward: number; backward: number };
  steps: number;
  dispose(): void;
}

/**
 * Compile one training step — forward, loss, backward, optimiser update — for an adapter on a frozen
 * linear layer, a model with adapters attached, or a plain model, and prepare it on a backend.
 * @param checked the checked program (`checkSource` / `loadFile`)
 * @param adapter the adapter or model to train
 * @param opts `dims` (sizes and hyper-parameters; `N` is the batch size), `backend` (default: the
 *   reference backend), `optimizer` (default AdamW), `loss` ('mse' | 'xent'), `seed`, `given` values
 * @returns a Trainer: `step({ x, t })` resolves to the loss before the update
 * @throws {LilyError} when the program cannot be compiled for these sizes
 */
export async function compileTraining(checked: CheckedProgram, adapter: string, opts: TrainOptions): Promise<Trainer> {
  const program = compile(checked, adapter, {
    settings: opts.dims,
    seed: opts.seed ?? 0,
    objective: { loss: opts.loss ?? 'mse', optimizer: opts.optimizer ?? DEFAULT_ADAMW },
    skip: opts.naive ? ['contract'] : undefined,
    params: opts.params,
    given: opts.given,
    attach: opts.attach,
    record: opts.record,
  });
  const train = program.train!;
  const keep = opts.keep === 'gradients' ? [...program.graph.outputs.keys()].filter((k) => k.startsWith('grad:')) : (opts.keep ?? []);
  const plan = planKernels(program.graph, { outputs: ['loss', ...train.assignments.map(([from]) => from), ...keep] });
  const exec = await (opts.backend ?? referenceBackend).prepare(plan);
  for (const [name] of plan.leaves) {
    const v = program.leaves.get(name) ?? (plan.constants.has(name) ? { data: plan.constants.get(name)! } : undefined);
    if (!v) throw new Error(`internal: no initial value for '${name}'`);
    await exec.set(name, Float32Array.from(v.data));
  }
  const trainable = train.assignments.map(([, to]) => to).filter((n) => !/^[mv]:/.test(n));
  let steps = 0;
  const parameters = async () => new Map(await Promise.all(trainable.map(async (n) => [n, await exec.read(n)] as [string, Float32Array])));
  return {
    program,
    plan,
    exec,
    flops: flopsSplit(program.graph),
    get steps() {
      return steps;
    },
    async step(batch) {
      steps++;
      await exec.set('x', batch.x);
      await exec.set('t', batch.t);
      for (const [k, v] of Object.entries(train.args(steps))) if (plan.leaves.has(k)) await exec.set(k, Float32Array.of(v));
      await exec.run();
      const loss = (await exec.read('loss'))[0];
      await exec.assign(train.assignments.filter(([from]) => plan.outputs.has(from)));
      return loss;
    },
    read: (name) => exec.read(name),
    parameters,
    async namedParameters() {
      const values = await parameters();
      return new Map([...values].map(([n, data]) => [n, { shape: plan.buffers[plan.leaves.get(n)!].shape, data }]));
    },
    dispose: () => exec.dispose(),
  };
}
