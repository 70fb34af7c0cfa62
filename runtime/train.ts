// The training runtime: compile an adapter on a frozen linear layer into one fused training step
// (forward, loss, backward, optimiser update) and run it on a backend:
//   const trainer = await compileTraining(checked, 'Lily', { dims, backend });
//   const loss = await trainer.step({ x, t });
import type { CheckedProgram } from '../compiler/check/check.ts';
import { planKernels } from '../compiler/fuse/fuse.ts';
import type { KernelPlan } from '../compiler/fuse/kernel-ir.ts';
import { DEFAULT_ADAMW, type OptimizerConfig } from '../compiler/objective.ts';
import { compile, flopsSplit, type Program } from '../compiler/pipeline.ts';
import { timed, type Timings } from '../compiler/timings.ts';
import type { ModuleRecord, TargetAttachment } from '../compiler/interp/targets.ts';
import type { Backend, Executable, HostAccess } from './executable.ts';
import { referenceBackend } from './backends/reference-exec.ts';
import { compileStepScalars } from './backends/wasm-step-scalars.ts';
import type { Tensor } from './tensor/index.ts';
import { largest } from './tensor/reduce.ts';
import { toFloat32, zerosWhenNeeded } from './init/drawn.ts';
import { isStepRandomLeaf, stepRandom } from './init/step-random.ts';

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
  /** Base layers that train anyway (PEFT's modules_to_save). */
  trainable?: string[];
  /** Scale all gradients so their global L2 norm is at most this; also makes 'grad_norm' readable. */
  clipGradNorm?: number;
  /** Make 'grad_norm' (before clipping) readable after each step. */
  gradNorm?: boolean;
  /** Learning-rate multiplier per parameter (LoRA+'s ratio for B), default 1. */
  lrRatio?: (param: string) => number;
  /** The learning rate's factor at step t (1-based): a schedule with warm-up; default 1. */
  schedule?: (t: number) => number;
  /** Also keep these outputs readable after a step (e.g. 'grad:A', 'y'). */
  keep?: string[] | 'gradients';
  /** Record where compile time goes: the compiler's stages, the kernel plan, the backend's prepare. */
  timings?: Timings;
}

export interface Trainer {
  program: Program;
  plan: KernelPlan;
  exec: Executable;
  /** One step on a batch; returns the loss before the update. */
  step(batch: { x: Float32Array; t: Float32Array }): Promise<number>;
  /**
   * The same step, synchronous and allocation-free once warm, where the backend runs on the host (the
   * CPU backend); undefined elsewhere. It returns nothing — a JS number would be a new 16-byte heap
   * object every step —: read the loss with lastLoss() when you need it.
   */
  stepSync?: (batch: { x: Float32Array; t: Float32Array }) => void;
  /** The loss the last step computed (before its update); NaN before the first step. */
  lastLoss(): number;
  read(name: string): Promise<Float32Array>;
  /**
   * The model's output y for a batch in evaluation mode (dropout off, `training` false) with the
   * current parameters: the training program itself when the program does not depend on the mode,
   * else a forward program compiled for evaluation (the parameters copied into it).
   */
  predict(x: Float32Array): Promise<Float32Array>;
  /** Current values of the trainable parameters. */
  parameters(): Promise<Map<string, Float32Array>>;
  /** The same, with shapes (for checkpoints). */
  namedParameters(): Promise<Map<string, { shape: number[]; data: Float32Array }>>;
  /** Everything a step updates — parameters and optimiser moments (`m:A`, `v:A`) — with shapes. */
  trainState(): Promise<Map<string, { shape: number[]; data: Float32Array }>>;
  /** Continue from a checkpoint: set every value trainState() returns, and the step count. */
  restore(state: Map<string, { data: Float32Array }>, steps: number): Promise<void>;
  /** The loss of the current parameters on a batch, without updating anything. */
  evaluate(batch: { x: Float32Array; t: Float32Array }): Promise<number>;
  flops: { forward: number; backward: number };
  readonly steps: number;
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
    objective: { loss: opts.loss ?? 'mse', optimizer: opts.optimizer ?? DEFAULT_ADAMW, clipGradNorm: opts.clipGradNorm, gradNorm: opts.gradNorm, lrRatio: opts.lrRatio },
    skip: opts.naive ? ['contract'] : undefined,
    params: opts.params,
    given: opts.given,
    attach: opts.attach,
    record: opts.record,
    trainable: opts.trainable,
    timings: opts.timings,
  });
  const train = program.train!;
  const keep = [...(opts.keep === 'gradients' ? [...program.graph.outputs.keys()].filter((k) => k.startsWith('grad:')) : (opts.keep ?? [])), ...(program.graph.outputs.has('grad_norm') ? ['grad_norm'] : [])];
  const plan = timed(opts.timings, 'kernel plan', () => planKernels(program.graph, { outputs: ['loss', ...train.assignments.map(([from]) => from), ...keep] }));
  // x is written by every step, evaluate and predict before a run reads it, t by every step and
  // evaluate (predict reads y, which does not depend on t): loaded as zeros, their sample values (a
  // batch of normal draws each, ~20–40 ms at the paper's shape) are never drawn
  const exec = await prepareWithValues(program, plan, opts.backend ?? referenceBackend, 'every leaf', opts.timings, FED_EACH_STEP);
  const trainable = train.assignments.map(([, to]) => to).filter((n) => !/^[mv]:/.test(n));
  const updated = train.assignments.map(([, to]) => to).filter((n) => plan.leaves.has(n));
  let evalExec: { exec: Executable; plan: KernelPlan; delta: boolean } | undefined;
  const prepareEval = async () => {
    const forward = await prepareForward(checked, adapter, { settings: opts.dims, seed: opts.seed ?? 0, params: opts.params, given: opts.given, attach: opts.attach }, opts.backend ?? referenceBackend);
    return { ...forward, delta: program.form === 'delta' };
  };
  let steps = 0;
  // the last step's loss, copied float to float (no double is computed in JS, see hostStep)
  const lastLoss = Float32Array.of(NaN);
  const assignments = train.assignments.filter(([from]) => plan.outputs.has(from));
  // Programs reading `step` or drawing per-step random numbers are fed those by the async step.
  const stepDependent = plan.leaves.has('step') || [...plan.leaves.keys()].some(isStepRandomLeaf);
  const stepSync = exec.host && !stepDependent ? hostStep(exec.host, plan, train, assignments, () => ++steps, lastLoss, opts.schedule) : undefined;
  const read = async (names: string[]) => new Map(await Promise.all(names.map(async (n) => [n, await exec.read(n)] as [string, Float32Array])));
  const parameters = () => read(trainable);
  const withShapes = (values: Map<string, Float32Array>) => new Map([...values].map(([n, data]) => [n, { shape: plan.buffers[plan.leaves.get(n)!].shape, data }]));
  const predict = async (x: Float32Array): Promise<Float32Array> => {
    if (!checked.readsMode) {
      if (!plan.outputs.has('y')) throw new Error("internal: predict needs keep: ['y']");
      await exec.set('x', x);
      await exec.run();
      return exec.read('y');
    }
    evalExec ??= await prepareEval();
    for (const [n, v] of await parameters()) if (evalExec.plan.leaves.has(n)) await evalExec.exec.set(n, v);
    await evalExec.exec.set('x', x);
    await evalExec.exec.run();
    const y = await evalExec.exec.read('y');
    return evalExec.delta ? addBase(y, x, program.leaves.get('base.W')!, program.leaves.get('base.b')!) : y;
  };
  return {
    program,
    plan,
    exec,
    flops: flopsSplit(program.graph),
    get steps() {
      return steps;
    },
    async step(batch) {
      // The fast host step feeds no step counter or per-step random draws: only programs without them take it.
      if (stepSync) {
        stepSync(batch);
        return lastLoss[0]!;
      }
      const before = steps++;
      await exec.set('x', batch.x);
      await exec.set('t', batch.t);
      // The program's `step` and its forward-pass random draws for this step.
      if (plan.leaves.has('step')) await exec.set('step', Float32Array.of(before));
      for (const [name, b] of plan.leaves)
        if (isStepRandomLeaf(name)) await exec.set(name, Float32Array.from(stepRandom(opts.seed ?? 0, before, name, plan.buffers[b].shape).data));
      for (const [k, v] of Object.entries(train.args(steps, opts.schedule?.(steps) ?? 1))) if (plan.leaves.has(k)) await exec.set(k, Float32Array.of(v));
      await exec.run();
      lastLoss.set(await exec.read('loss'));
      await exec.assign(assignments);
      return lastLoss[0]!;
    },
    stepSync,
    lastLoss: () => lastLoss[0]!,
    read: (name) => exec.read(name),
    predict,
    parameters,
    namedParameters: async () => withShapes(await parameters()),
    trainState: async () => withShapes(await read(updated)),
    async restore(state, at) {
      for (const n of updated) {
        const v = state.get(n);
        if (!v) throw new Error(`internal: restore lacks '${n}'`);
        await exec.set(n, Float32Array.from(v.data));
      }
      steps = at;
    },
    async evaluate(batch) {
      // A program that reads the mode (dropout, `training`) is evaluated as compiled for evaluation.
      if (checked.readsMode) {
        const yShape = program.graph.shape(program.graph.outputs.get('y')!);
        return hostLoss(opts.loss ?? 'mse', await predict(batch.x), batch.t, yShape[yShape.length - 1]);
      }
      await exec.set('x', batch.x);
      await exec.set('t', batch.t);
      await exec.run();
      return (await exec.read('loss'))[0];
    },
    dispose: () => {
      exec.dispose();
      evalExec?.exec.dispose();
    },
  };
}

/**
 * A plan prepared on a backend with the program's initial values (and the plan's folded constants) in
 * its leaves. 'every leaf': a leaf without a value is a bug; 'known leaves': leaves the caller feeds
 * later (x, the trained parameters) may lack one.
 */
/** inputs a training executable is given before every run: it needs no initial value for them */
const FED_EACH_STEP: ReadonlySet<string> = new Set(['x', 't']);

export async function prepareWithValues(program: Program, plan: ReturnType<typeof planKernels>, backend: Backend, need: 'every leaf' | 'known leaves', timings?: Timings, fed: ReadonlySet<string> = new Set()): Promise<Executable> {
  const exec = timings ? await timings.timeAsync('prepare', () => backend.prepare(plan, timings)) : await backend.prepare(plan);
  const t0 = performance.now();
  const values: [string, Tensor][] = [];
  for (const [name, id] of plan.leaves) {
    const v = fed.has(name)
      ? zerosWhenNeeded(plan.buffers[id].shape)
      : (program.leaves.get(name) ?? (plan.constants.has(name) ? { shape: plan.buffers[id].shape, data: plan.constants.get(name)! } : undefined));
    if (!v) {
      if (need === 'every leaf') throw new Error(`internal: no initial value for '${name}'`);
      continue;
    }
    values.push([name, v]);
  }
  // a backend that loads values itself draws them straight into its buffers (the CPU backend: on two
  // threads); else each converted to float32 here, a value not drawn yet drawn straight into float32
  if (exec.load) await exec.load(values);
  else for (const [name, v] of values) await exec.set(name, toFloat32(v));
  timings?.add('load values', performance.now() - t0);
  return exec;
}

/** The evaluation-mode forward program (y only, optimised: the expert fold applies), prepared with its initial values. */
export async function prepareForward(
  checked: CheckedProgram,
  entry: string,
  opts: Omit<Parameters<typeof compile>[2], 'forwardOnly' | 'training'>,
  backend: Backend,
): Promise<{ exec: Executable; plan: KernelPlan; program: Program }> {
  const program = compile(checked, entry, { ...opts, forwardOnly: true, training: false });
  const plan = planKernels(program.graph, { outputs: ['y'] });
  return { exec: await prepareWithValues(program, plan, backend, 'known leaves'), plan, program };
}

/** x W + b + delta, for a delta adapter's evaluation output (the training program adds the base itself). */
function addBase(delta: Float32Array, x: Float32Array, W: Tensor, b: Tensor): Float32Array {
  const [In, Out] = W.shape;
  const N = x.length / In;
  const y = Float32Array.from(delta);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < Out; o++) {
      let acc = b.data[o];
      for (let i = 0; i < In; i++) acc += x[n * In + i] * W.data[i * Out + o];
      y[n * Out + o] += acc;
    }
  return y;
}

/** The objective's loss on the host (for evaluation-mode outputs): MSE, or cross-entropy over the last axis. */
function hostLoss(kind: 'mse' | 'xent', y: Float32Array, t: Float32Array, classes: number): number {
  if (kind === 'mse') return y.reduce((acc, v, i) => acc + (v - t[i]) ** 2, 0) / y.length;
  const rows = y.length / classes;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const row = y.subarray(r * classes, (r + 1) * classes);
    const m = largest(row);
    const lse = m + Math.log(row.reduce((acc, v) => acc + Math.exp(v - m), 0));
    for (let k = 0; k < classes; k++) total -= t[r * classes + k] * (row[k] - lse);
  }
  return total / rows;
}

/** The step on a host executable: inputs written into the leaves' arrays, one run, the assigns prepared once. */
function hostStep(host: HostAccess, plan: KernelPlan, train: NonNullable<Program['train']>, assignments: [string, string][], next: () => number, lossOut: Float32Array, schedule?: (step: number) => number) {
  const argNames = train.argNames.filter((a) => plan.leaves.has(a));
  // the optimiser's scalars in wasm, each copied into its leaf as a one-float view (no double in JS: see wasm-step-scalars.ts)
  const scalars = compileStepScalars(train.argFormulas);
  const argViews = argNames.map((a) => {
    const k = train.argNames.indexOf(a);
    return scalars.out.subarray(k, k + 1);
  });
  let assign: (() => void) | null = null;
  return (batch: { x: Float32Array; t: Float32Array }): void => {
    const step = next();
    const x = host.leaf('x'), t = host.leaf('t');
    if (batch.x.length !== x.length || batch.t.length !== t.length) throw new Error(`step: x needs ${x.length} values and t ${t.length}; got ${batch.x.length} and ${batch.t.length}`);
    x.set(batch.x);
    t.set(batch.t);
    scalars.run(step, schedule?.(step) ?? 1);
    for (let i = 0; i < argNames.length; i++) host.leaf(argNames[i]!).set(argViews[i]!);
    host.run();
    lossOut.set(host.output('loss'));
    (assign ??= host.assigner(assignments))();
  };
}
