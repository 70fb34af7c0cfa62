// lily train's flags: defaults (one table, independent of which other flags are given), parsing
// with clear messages, and the settings a checkpoint records to resume exactly.
import { fail } from '../diagnostics.ts';
import type { OptimizerConfig } from '../objective.ts';
import { parseLrRatio, schedule, SCHEDULE_NAMES, type ScheduleName } from '../../runtime/trainer/schedule.ts';
import type { DataFlags } from './train-data.ts';
import type { ModelFlags } from './model-setup.ts';

export interface TrainCliOptions extends DataFlags, ModelFlags {
  overwrite?: boolean;
  dims?: string;
  batch: string;
  steps?: string;
  epochs?: string;
  lr: string;
  optimizer: string;
  weightDecay: string;
  schedule: string;
  warmup: string;
  clipGradNorm?: string;
  lrRatio?: string;
  backend: string;
  seed: string;
  maxMemory?: string;
  evalEvery?: string;
  save?: string;
  saveEvery: string;
  keep: string;
  resume?: string;
  maxLossRatio: string;
  maxLoss?: string;
  log?: string;
  plot?: string;
  json?: boolean;
  naive?: boolean;
}

export const TRAIN_DEFAULTS = {
  batch: 64,
  steps: 200,
  lr: 0.01,
  optimizer: 'adamw',
  weightDecay: 0.01,
  schedule: 'constant',
  warmup: 0,
  backend: 'auto',
  seed: 0,
  data: 'teacher',
  saveEvery: 100,
  keep: 3,
  maxLossRatio: 1e4,
};

const usage = (message: string): never => fail('E-usage', message);

function num(flag: string, text: string | undefined, ok: (v: number) => boolean, what: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !ok(v)) usage(`${flag} takes ${what}, found '${text}'`);
  return v;
}
const wholeAtLeast = (min: number) => (v: number) => Number.isInteger(v) && v >= min;
const positive = (v: number) => Number.isFinite(v) && v > 0;

export function parseTrainFlags(o: TrainCliOptions) {
  const batch = num('--batch', o.batch, wholeAtLeast(1), 'a whole number ≥ 1')!;
  const steps = num('--steps', o.steps, wholeAtLeast(1), 'a whole number ≥ 1');
  const epochs = num('--epochs', o.epochs, wholeAtLeast(1), 'a whole number ≥ 1');
  if (steps !== undefined && epochs !== undefined) usage('give --steps or --epochs, not both');
  if (epochs !== undefined && o.data === 'teacher') usage('--epochs needs --data (the synthetic teacher has no epochs)');
  for (const flag of ['val', 'valSplit', 'label', 'evalEvery'] as const)
    if (o[flag] !== undefined && o.data === 'teacher') usage(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --data`);
  const lr = num('--lr', o.lr, positive, 'a number > 0')!;
  const seed = num('--seed', o.seed, wholeAtLeast(0), 'a whole number ≥ 0')!;
  const weightDecay = num('--weight-decay', o.weightDecay, (v) => Number.isFinite(v) && v >= 0, 'a number ≥ 0')!;
  const warmup = num('--warmup', o.warmup, wholeAtLeast(0), 'a whole number of steps ≥ 0')!;
  const clipGradNorm = num('--clip-grad-norm', o.clipGradNorm, positive, 'a number > 0');
  const evalEvery = num('--eval-every', o.evalEvery, wholeAtLeast(1), 'a whole number ≥ 1');
  const saveEvery = num('--save-every', o.saveEvery, wholeAtLeast(0), 'a whole number of steps ≥ 0')!;
  const keep = num('--keep', o.keep, wholeAtLeast(1), 'a whole number ≥ 1')!;
  const maxLossRatio = num('--max-loss-ratio', o.maxLossRatio, positive, 'a number > 0')!;
  const maxLoss = num('--max-loss', o.maxLoss, positive, 'a number > 0');
  if (o.optimizer !== 'adamw' && o.optimizer !== 'sgd') usage(`--optimizer must be adamw or sgd, found '${o.optimizer}'`);
  if (!SCHEDULE_NAMES.includes(o.schedule as ScheduleName)) usage(`--schedule must be ${SCHEDULE_NAMES.join(', ')}; found '${o.schedule}'`);
  const lrRatio = o.lrRatio === undefined ? undefined : parseLrRatio(o.lrRatio);
  if (typeof lrRatio === 'string') usage(lrRatio);
  const optimizer: OptimizerConfig = o.optimizer === 'sgd' ? { kind: 'sgd', lr } : { kind: 'adamw', lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay };
  const scheduleOf = (total: number) => schedule(o.schedule as ScheduleName, total, warmup);
  return {
    batch,
    steps,
    epochs,
    lr,
    seed,
    optimizer,
    clipGradNorm,
    lrRatio: lrRatio as Exclude<typeof lrRatio, string>,
    evalEvery,
    saveEvery,
    keep,
    maxLossRatio,
    maxLoss,
    schedule: scheduleOf,
    /** The learning rate of step t (for the log). */
    lrAt: (t: number, total: number) => lr * scheduleOf(total)(t),
    /** What changes the trajectory: a checkpoint resumes only under the same values. */
    hyper: (total: number) => ({
      model: o.model ?? null,
      adapter: o.adapter ?? null,
      targetModules: o.targetModules ?? null,
      lr,
      optimizer: o.optimizer,
      weightDecay: optimizer.kind === 'adamw' ? weightDecay : null,
      schedule: o.schedule,
      warmup,
      // A decaying schedule depends on the run's length.
      totalSteps: o.schedule === 'constant' ? null : total,
      clipGradNorm: clipGradNorm ?? null,
      lrRatio: o.lrRatio ?? null,
      batch,
      seed,
      data: o.data,
      val: o.val ?? null,
      valSplit: o.valSplit ?? null,
      label: o.label ?? null,
      swapClasses: o.swapClasses ?? null,
      naive: !!o.naive,
    }),
    describe: (total: number) =>
      `optimiser: ${o.optimizer} lr ${lr}${optimizer.kind === 'adamw' ? ` weight decay ${weightDecay}` : ''}, ${o.schedule} schedule${warmup ? ` after ${warmup} warm-up steps` : ''}${clipGradNorm ? `, gradients clipped to norm ${clipGradNorm}` : ''}${o.lrRatio ? `, lr ratios ${o.lrRatio}` : ''}; ${total} steps of ${batch} rows`,
  };
}
