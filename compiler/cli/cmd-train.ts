// lily train FILE --adapter NAME …: train an adapter attached to a frozen linear layer (or the
// adapters attached to a model, or a plain model on real data) with compiled kernels; checkpoints
// that resume exactly, divergence stops, real data with evaluation, schedules, logs and plots.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../diagnostics.ts';
import { loadFile } from '../frontend.ts';
import { compileTraining } from '../../runtime/train.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import { resolveBackend, BACKEND_NAMES } from '../../runtime/backends/select.ts';
import { loadAdapter, saveAdapter } from '../../runtime/checkpoint/adapter-checkpoint.ts';
import { SafetensorsError } from '../../runtime/checkpoint/safetensors.ts';
import { checkSaveTarget } from '../../runtime/trainer/save-target.ts';
import { cleanSaveRoot, CheckpointError, readCheckpoint, writeCheckpoint, type AdapterFiles } from '../../runtime/trainer/checkpoints.ts';
import { trainLoop } from '../../runtime/trainer/loop.ts';
import { programHash } from '../../runtime/trainer/program-hash.ts';
import { lossSummary } from '../../runtime/trainer/loss-summary.ts';
import { sizedTrainer } from '../../runtime/trainer/sized.ts';
import { writeFileAtomic } from '../../runtime/trainer/durable.ts';
import { parseTrainFlags, TRAIN_DEFAULTS, type TrainCliOptions } from './train-flags.ts';
import { checkModelFits, loadData, type RealData } from './train-data.ts';
import { layerTask, modelTask } from './train-tasks.ts';
import { progress } from './train-progress.ts';
import { lossPlotSvg } from './loss-plot.ts';
import { batchAxisOf, checkSettingNames } from './known-names.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { parseSettings } from './options.ts';

export function registerTrain(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  const d = TRAIN_DEFAULTS;
  program
    .command('train')
    .description('train an adapter on a frozen linear layer, or the adapters attached to a model (default data: a teacher with hidden low-rank changes)')
    .argument('<file>', '.lily file')
    .requiredOption('--adapter <name>', 'adapter to train, or a model with adapters attached')
    .option('--dims <list>', `sizes and hyper-parameters (an adapter's layer defaults to ${d.adapterDims}; the batch axis is set by --batch)`)
    .option('--batch <n>', 'rows per batch (the size of the model input\'s first axis)', String(d.batch))
    .option('--steps <k>', `training steps (default ${d.steps}, or --epochs over the data)`)
    .option('--epochs <e>', 'with --data: passes over the training rows (instead of --steps)')
    .option('--lr <x>', 'learning rate', String(d.lr))
    .option('--optimizer <name>', 'adamw or sgd', d.optimizer)
    .option('--weight-decay <x>', "AdamW's decoupled weight decay (PyTorch's default)", String(d.weightDecay))
    .option('--schedule <name>', 'learning-rate schedule: constant | linear | cosine', d.schedule)
    .option('--warmup <k>', 'steps of linear warm-up from 0 before the schedule', String(d.warmup))
    .option('--clip-grad-norm <c>', 'scale the gradients so their global L2 norm is at most c')
    .option('--lr-ratio <list>', "learning-rate multipliers by parameter name, e.g. 'B=16' (LoRA+)")
    .option('--backend <name>', `${BACKEND_NAMES.join('|')}`, d.backend)
    .option('--seed <n>', 'seed for parameters and data', String(d.seed))
    .option('--data <name|path>', 'teacher (synthetic) | fashion-mnist (embedded) | a .csv/.tsv/.jsonl/.safetensors file or a folder of IDX files', d.data)
    .option('--val <file>', 'with --data: evaluate on this file (same format)')
    .option('--val-split <fraction>', 'with --data: hold out this fraction of the rows (chosen by the seed) for evaluation')
    .option('--label <column>', 'CSV: the label column by name or index (default: label/y/class/target, else the last)')
    .option('--eval-every <k>', 'with --data: evaluate every k steps (default: every epoch) and at the end')
    .option('--swap-classes <a,b>', 'exchange the labels of two classes (a low-rank change of the task, for adapters to learn)')
    .option('--base <file>', "a model's frozen base weights from a checkpoint of it (a --save folder or its adapter_model.safetensors)")
    .option('--save <dir>', 'checkpoint folder: checkpoint-<step>/ subfolders (adapter + trainer state); the folder itself holds the newest adapter (PEFT layout)')
    .option('--save-every <k>', 'with --save: write a checkpoint every k steps (and at the end)', String(d.saveEvery))
    .option('--keep <n>', 'with --save: keep the newest n checkpoints', String(d.keep))
    .option('--resume <dir>', 'continue a run exactly from a checkpoint folder (or the newest one in a --save folder)')
    .option('--max-loss-ratio <x>', 'stop as diverged when the loss exceeds x times the first loss', String(d.maxLossRatio))
    .option('--max-loss <x>', 'stop as diverged when the loss exceeds x (instead of --max-loss-ratio)')
    .option('--log <file>', 'append one JSON line per step (step, loss, lr, grad_norm, time) and per evaluation')
    .option('--plot <file>', 'draw the loss curves (train and evaluation) as SVG at the end')
    .option('--naive', 'skip the contraction optimiser (to compare)')
    .option('--json', 'print one JSON object at the end')
    .action(wrap((file: string, o: TrainCliOptions) => train(file, o, io)));
}

async function train(file: string, o: TrainCliOptions, io: Io): Promise<number> {
  const f = parseTrainFlags(o);
  const checked = loadFile(file);
  const unit = checked.units.get(o.adapter);
  const adaptedModel = unit?.decl.kind === 'model' && [...unit.layers.values()].some((l) => l.kind === 'model' || (l.kind === 'Linear' && l.adapter));
  const realData = o.data !== 'teacher';
  // A plain model trains as a whole on real data (e.g. a base, before adapters are attached).
  if (!unit || (unit.decl.kind !== 'adapter' && !adaptedModel && !(unit.decl.kind === 'model' && realData)))
    fail('E-name', `no adapter (or model with adapters attached) named '${o.adapter}' in ${file}`, undefined, { expected: [...checked.units.values()].map((u) => u.decl.name).join(', ') });
  const axis = batchAxisOf(checked, o.adapter);
  const userDims = parseSettings(o.dims);
  checkSettingNames(checked, userDims);
  if (axis in userDims) fail('E-usage', `--dims: the batch axis ${axis} is set by --batch`);
  // The same defaults whatever else is given: a stand-alone adapter's layer is 64 → 64 with r = 4.
  const defaults = unit.decl.kind === 'adapter' ? parseSettings(TRAIN_DEFAULTS.adapterDims) : {};
  const dims = { ...defaults, ...userDims, [axis]: f.batch };
  // A bad --save target is found now, not after the last step.
  if (o.save) {
    const why = checkSaveTarget(o.save);
    if (why) fail('E-file', `--save: ${why}`);
    cleanSaveRoot(o.save);
  }
  let given: Map<string, Tensor> | undefined;
  try {
    if (o.base) given = loadAdapter(o.base);
  } catch (e) {
    if (e instanceof SafetensorsError) fail('E-file', e.message);
    throw e;
  }
  const data: RealData | undefined = realData ? loadData(o, f.batch, f.seed) : undefined;
  const steps = f.steps ?? (f.epochs !== undefined ? f.epochs * data!.batches.perEpoch : TRAIN_DEFAULTS.steps);
  const { backend, note } = await resolveBackend(o.backend);
  const loss = realData ? 'xent' : 'mse';
  const compileAt = (rows: number) =>
    compileTraining(checked, o.adapter, { dims: { ...dims, [axis]: rows }, backend, optimizer: f.optimizer, seed: f.seed, naive: o.naive, given, loss, keep: realData ? ['y'] : [], clipGradNorm: f.clipGradNorm, gradNorm: !!o.log, lrRatio: f.lrRatio?.ratioOf, schedule: f.schedule(steps) });
  const trainer = await sizedTrainer(compileAt, f.batch);
  const main = trainer.main;
  if (data) checkModelFits(main, data, o.adapter);
  const task = data ? undefined : unit.decl.kind === 'model' ? modelTask(checked, o.adapter, dims, main, f.seed) : layerTask(main, o.adapter, f.batch, f.seed);
  const batch = (i: number) => data?.batches.batch(i) ?? task!.batch(i);

  const hash = programHash({ source: readFileSync(file, 'utf8'), entry: o.adapter, dims, loss });
  const hyper = f.hyper(steps);
  const adapterFiles: AdapterFiles = {
    write: (dir, params) => void saveAdapter(join(dir, 'adapter_model.safetensors'), checked, o.adapter, dims, params),
    read: (dir) => loadAdapter(join(dir, 'adapter_model.safetensors'), o.adapter),
  };
  let initialLoss: number | undefined;
  if (o.resume) {
    const expected = new Map([...(await main.trainState())].map(([n, t]) => [n, t.shape]));
    try {
      const ck = readCheckpoint(o.resume, { adapter: adapterFiles, expected, programHash: hash, hyper });
      await trainer.restore(ck.state, ck.trainer.step);
      initialLoss = ck.trainer.initialLoss;
    } catch (e) {
      if (e instanceof CheckpointError) fail('E-file', `--resume: ${e.message}`);
      throw e;
    }
    if (trainer.steps >= steps) fail('E-usage', `the checkpoint has already taken ${trainer.steps} steps; ask for more with --steps (the total, now ${steps})`);
  }
  const start = trainer.steps;
  const before = data ? await data.evaluate(trainer) : undefined;

  // Before step 1: what is about to run.
  const state = await main.trainState();
  const trainable = [...state].filter(([n]) => !/^[mv]:/.test(n)).reduce((a, [, t]) => a + t.data.length, 0);
  const frozen = [...main.plan.leaves.keys()].filter((n) => !state.has(n) && n !== 'x' && n !== 't' && !n.startsWith('arg:')).reduce((a, n) => a + (main.program.leaves.get(n)?.data.length ?? 0), 0);
  if (!o.json) {
    io.err(`training ${o.adapter} (${file}) on ${backend.name}${note ? ` (${note})` : ''}${start ? `, resuming at step ${start}` : ''}`);
    io.err(`  sizes: ${Object.entries(dims).map(([k, v]) => `${k}=${v}`).join(', ')} (batch axis ${axis})`);
    io.err(`  parameters: ${trainable.toLocaleString('en')} trainable, ${frozen.toLocaleString('en')} frozen; ${main.plan.kernels.length} kernels/step, ${((main.flops.forward + main.flops.backward) / 1e6).toFixed(1)} MFLOP/step`);
    io.err(`  ${f.describe(steps)}`);
    io.err(`  data: ${data ? data.describe : `teacher (synthetic): the frozen ${unit.decl.kind === 'model' ? 'model' : 'layer'} alone has loss ${task!.baselineLoss.toPrecision(4)}`}${before && Number.isFinite(before.accuracy) ? `; before training: evaluation accuracy ${(100 * before.accuracy).toFixed(1)}%, loss ${before.loss.toPrecision(4)}` : ''}`);
  }
  const show = progress({ io, quiet: !!o.json, tty: !!process.stderr.isTTY, start, steps, log: o.log });
  if (before && data?.val) show.evaluation(start, before);
  const evalEvery = f.evalEvery ?? data?.batches.perEpoch ?? 0;
  const t0 = performance.now();
  const result = await trainLoop({
    trainer,
    batch,
    steps,
    saveEvery: o.save ? f.saveEvery : 0,
    maxLossRatio: f.maxLossRatio,
    maxLoss: f.maxLoss,
    initialLoss,
    save: o.save ? (step, s, l, first) => writeCheckpoint(o.save!, { state: s, keep: f.keep, adapter: adapterFiles, trainer: { format: 'lily-trainer-state', version: 1, step, programHash: hash, hyper, initialLoss: first, loss: l } }) : undefined,
    onStep: async (step, l) => {
      show.step(step, l, f.lrAt(step, steps), o.log ? (await trainer.read('grad_norm'))[0] : undefined);
      if (data?.val && evalEvery > 0 && step % evalEvery === 0 && step < steps) show.evaluation(step, await data.evaluate(trainer));
    },
  });
  const after = data && result.status !== 'diverged' ? await data.evaluate(trainer) : undefined;
  if (after && data?.val) show.evaluation(trainer.steps, after, true);
  show.close();
  if (o.plot) {
    try {
      writeFileAtomic(o.plot, await lossPlotSvg(show.records, `${o.adapter}: ${file}`));
    } catch (e) {
      io.err(`could not write the plot ${o.plot}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  trainer.dispose();
  const losses = result.losses;
  const savedNote = result.saved ? `the last good state (step ${result.saved.step}) is in ${result.saved.dir}` : o.save ? 'no checkpoint was written by this run' : 'nothing was saved (no --save)';
  if (result.status === 'diverged') {
    const dv = result.diverged!;
    fail('E-train', `the loss became ${dv.loss} at step ${dv.step}${Number.isFinite(dv.loss) ? `, above the divergence threshold ${result.threshold!.toPrecision(4)} (${f.maxLoss !== undefined ? '--max-loss' : `--max-loss-ratio ${f.maxLossRatio} × the first loss`})` : ''}; lower --lr (now ${f.lr}) or check the adapter's scale`, undefined, {
      notes: [`last finite loss: ${losses.filter(Number.isFinite).at(-1) ?? 'none'}`, savedNote],
    });
  }
  if (result.status === 'interrupted') {
    io.err(`interrupted by ${result.signal} after step ${trainer.steps}; ${savedNote}`);
    return 130;
  }
  const msPerStep = (performance.now() - t0) / Math.max(1, steps - start);
  const evaluation = before && after && data?.val ? { before, after } : undefined;
  const summary = {
    adapter: o.adapter,
    backend: backend.name,
    data: o.data,
    steps,
    batch: f.batch,
    firstLoss: losses[0],
    lastLoss: losses.at(-1)!,
    loss: lossSummary(losses, start),
    ...(evaluation ? { evaluation, testAccuracy: { before: evaluation.before.accuracy, after: evaluation.after.accuracy } } : data ? {} : { baselineLoss: task!.baselineLoss }),
    msPerStep,
    kernels: main.plan.kernels.length,
    batchSizesCompiled: trainer.sizes,
    saved: result.saved?.dir,
  };
  if (o.json) io.out(JSON.stringify(summary, null, 2));
  else
    io.out(
      `${o.adapter}: loss ${summary.firstLoss.toPrecision(4)} → ${summary.lastLoss.toPrecision(4)} in ${start ? `steps ${start + 1}–${steps}` : `${steps} steps`} (${msPerStep.toFixed(1)} ms/step on ${backend.name})${evaluation ? `; evaluation accuracy ${(100 * evaluation.before.accuracy).toFixed(1)}% → ${(100 * evaluation.after.accuracy).toFixed(1)}%` : ''}${summary.saved ? `; saved ${summary.saved}` : ''}`,
    );
  return 0;
}
