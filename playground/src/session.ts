// One training run in the page: compile the training step for a backend, step it (stoppable and
// resumable, yielding to the page between steps), and replay the same steps on the CPU reference to
// show that the GPU computes the same thing.
import type { CheckedProgram } from '../../compiler/check/check.ts';
import { compileTraining, type Trainer } from '../../runtime/train.ts';
import type { Backend } from '../../runtime/executable.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import { cpuReference } from './backends.ts';
import { images, teacher, type DataName, type Task } from './tasks.ts';

export interface RunConfig {
  unit: string;
  data: DataName;
  dims: Record<string, number | boolean>;
  batch: number;
  lr: number;
  seed: number;
  /** Starting values by leaf (an adapter loaded from a zip); the rest start from their initialisers. */
  given?: Map<string, Tensor>;
}

export interface StepRecord {
  step: number;
  loss: number;
  ms: number;
}

export interface CpuComparison {
  steps: number;
  /** max over steps of |loss_gpu − loss_cpu| / max(1, |loss_cpu|) */
  lossRelErr: number;
  /** max over trainable entries of |p_gpu − p_cpu| / max(1e-3, max |p_cpu|) per tensor */
  paramRelErr: number;
  ok: boolean;
}

/** float32 tolerance after many optimiser steps (the kernels themselves agree to ~1e-6). */
export const TOLERANCE = 1e-3;

export class TrainingRun {
  readonly history: StepRecord[] = [];
  private stopping = false;
  running = false;

  private constructor(
    readonly config: RunConfig,
    readonly backendName: string,
    readonly trainer: Trainer,
    readonly task: Task,
    private readonly checked: CheckedProgram,
  ) {}

  static async create(checked: CheckedProgram, config: RunConfig, backend: Backend): Promise<TrainingRun> {
    const trainer = await compileFor(checked, config, backend);
    try {
      const task = await taskFor(trainer, config);
      return new TrainingRun(config, backend.name, trainer, task, checked);
    } catch (e) {
      trainer.dispose();
      throw e;
    }
  }

  get steps() {
    return this.history.length;
  }

  /** Run until `total` steps are done or stop() is called; `onStep` after every step (awaited: it may evaluate). */
  async run(total: number, onStep: (r: StepRecord) => void | Promise<void>): Promise<void> {
    this.running = true;
    this.stopping = false;
    try {
      while (this.history.length < total && !this.stopping) {
        const i = this.history.length;
        const t0 = performance.now();
        const loss = await this.trainer.step(this.task.batch(i));
        const r = { step: i + 1, loss, ms: performance.now() - t0 };
        this.history.push(r);
        await onStep(r);
        if (!Number.isFinite(loss)) throw new Error(`the loss became ${loss} at step ${i + 1}; lower the learning rate`);
        await new Promise((resolve) => setTimeout(resolve, 0)); // let the page paint and take clicks
      }
    } finally {
      this.running = false;
    }
  }

  stop() {
    this.stopping = true;
  }

  /** Replay the steps done so far on the CPU reference from the same start; compare. */
  async compareWithCpu(): Promise<CpuComparison> {
    const ref = await compileFor(this.checked, this.config, cpuReference);
    try {
      let lossRelErr = 0;
      for (const r of this.history) {
        const loss = await ref.step(this.task.batch(r.step - 1));
        lossRelErr = Math.max(lossRelErr, Math.abs(r.loss - loss) / Math.max(1, Math.abs(loss)));
      }
      const mine = await this.trainer.parameters();
      let paramRelErr = 0;
      for (const [name, want] of await ref.parameters()) {
        const got = mine.get(name)!;
        const scale = Math.max(1e-3, ...Array.from(want, Math.abs));
        for (let i = 0; i < want.length; i++) paramRelErr = Math.max(paramRelErr, Math.abs(got[i] - want[i]) / scale);
      }
      return { steps: this.history.length, lossRelErr, paramRelErr, ok: lossRelErr < TOLERANCE && paramRelErr < TOLERANCE };
    } finally {
      ref.dispose();
    }
  }

  dispose() {
    this.stop();
    this.trainer.dispose();
  }
}

function compileFor(checked: CheckedProgram, c: RunConfig, backend: Backend) {
  const optimizer = { kind: 'adamw' as const, lr: c.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
  const images = c.data === 'fashion-mnist';
  return compileTraining(checked, c.unit, { dims: { ...c.dims, N: c.batch }, backend, optimizer, seed: c.seed, given: c.given, loss: images ? 'xent' : 'mse', keep: images ? ['y'] : [] });
}

function taskFor(trainer: Trainer, c: RunConfig): Promise<Task> | Task {
  return c.data === 'fashion-mnist' ? images(trainer, c.batch) : teacher(trainer, c.batch, c.seed);
}
