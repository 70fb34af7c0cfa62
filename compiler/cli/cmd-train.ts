// lily train FILE (--model NAME | --adapter NAME) …: train an adapter on a frozen linear layer, the
// adapters attached to a model (in the file, or by --target-modules / --peft), or a plain model on
// real data, with compiled kernels. Checkpoints resume exactly, divergence stops the run, real data
// is evaluated on every example, and the user sees a summary, progress, a log and a plot.
import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fail } from '../diagnostics.ts';
import { compileTraining } from '../../runtime/train.ts';
import { resolveBackend, BACKEND_NAMES } from '../../runtime/backends/select.ts';
import { loadLegacyCheckpoint } from '../../runtime/checkpoint/adapter-checkpoint.ts';
import { readWeights } from '../../runtime/peft/node.ts';
import { CheckpointError, findCheckpoint, readCheckpoint, writeCheckpoint } from '../../runtime/trainer/checkpoints.ts';
import { trainLoop } from '../../runtime/trainer/loop.ts';
import { programHash } from '../../runtime/trainer/program-hash.ts';
import { lossSummary } from '../../runtime/trainer/loss-summary.ts';
import { sizedTrainer } from '../../runtime/trainer/sized.ts';
import { writeFileAtomic } from '../../runtime/trainer/durable.ts';
import { parseTrainFlags, TRAIN_DEFAULTS, type TrainCliOptions } from './train-flags.ts';
import { checkModelFits, loadData, type RealData } from './train-data.ts';
import { layerTask, modelTask } from './train-tasks.ts';
import { prepareCheckpoints } from './train-save.ts';
import { progress } from './train-progress.ts';
import { lossPlotSvg } from './loss-plot.ts';
import { batchAxisOf, checkSettingNames } from './known-names.ts';
import { addModelFlags, asUserError, setupModel } from './model-setup.ts';
import { applyMemoryBudget, MAX_MEMORY_HELP, parseSettings } from './options.ts';
import { guardMemory } from '../budget.ts';
import type { Action, Io, Wrapped } from './main.ts';

export function registerTrain(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  const d = TRAIN_DEFAULTS;
  const cmd = program
    .command('train')
    .description('train an adapter on a frozen linear layer, or the adapters attached to a model (default data: a teacher with hidden low-rank changes)')
    .argument('<file>', '.lily file');
  addModelFlags(cmd, {
    model: 'the model to train (its adapters, or all of it if it has none)',
    adapter: 'the adapter to attach with --target-modules (LoRA, Lily, DoRA, … or one from --adapter-file); without --model, the adapter (or model) to train',
    peft: 'start from an adapter folder written by PEFT or by --save (its config chooses the method, hyper-parameters and targets)',
  })
    .option('--dims <list>', "sizes and hyper-parameters (an adapter on its own layer: In=64,Out=64 unless given; otherwise the program's defaults; the batch axis is --batch)")
    .option('--batch <n>', "rows per batch (the size of the model input's first axis)", String(d.batch))
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
    .option('--save <dir>', "checkpoints in DIR/checkpoint-<step>/ (the adapter as PEFT's save_pretrained writes it, plus the trainer state); DIR itself holds the newest adapter (a plain model: a PyTorch state dict FILE.safetensors)")
    .option('--save-every <k>', 'with --save: write a checkpoint every k steps (and at the end)', String(d.saveEvery))
    .option('--keep <n>', 'with --save: keep the newest n checkpoints', String(d.keep))
    .option('--overwrite', '--save into a folder that already holds an adapter')
    .option('--resume <dir>', 'continue a run exactly from a checkpoint (a --save folder: its newest), or from the weights of a PEFT folder or older Lily checkpoint file')
    .option('--max-loss-ratio <x>', 'stop as diverged when the loss exceeds x times the first loss', String(d.maxLossRatio))
    .option('--max-loss <x>', 'stop as diverged when the loss exceeds x (instead of --max-loss-ratio)')
    .option('--log <file>', 'append one JSON line per step (step, loss, lr, grad_norm, time) and per evaluation')
    .option('--plot <file>', 'draw the loss curves (train and evaluation) as SVG at the end')
    .option('--naive', 'skip the contraction optimiser (to compare)')
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .option('--json', 'print one JSON object at the end')
    .action(wrap((file: string, o: TrainCliOptions) => train(file, o, io)));
}

async function train(file: string, o: TrainCliOptions, io: Io): Promise<number> {
  const f = parseTrainFlags(o);
  applyMemoryBudget(o.maxMemory);
  // --resume: a checkpoint continues exactly; a PEFT folder or an older file gives its weights only.
  const checkpoint = o.resume && existsSync(o.resume) && statSync(o.resume).isDirectory() ? findCheckpoint(o.resume) : undefined;
  if (o.resume && !checkpoint && !o.peft && existsSync(o.resume) && statSync(o.resume).isDirectory()) o.peft = o.resume;
  const setup = setupModel(file, { ...o, defaults: { In: 64, Out: 64 } });
  const { checked, entry, record } = setup;
  const unit = checked.units.get(entry)!;
  const realData = o.data !== 'teacher';
  if (unit.decl.kind === 'model' && !record.adapted.length && !realData)
    fail('E-usage', `${entry} has no adapters attached: attach one (--target-modules … --adapter …), or train the whole model on real data (--data FILE)`);
  checkSettingNames(checked, parseSettings(o.dims));
  const axis = batchAxisOf(checked, entry);
  if (axis in setup.settings) fail('E-usage', `--dims: the batch axis ${axis} is set by --batch`);
  const dims = { ...setup.settings, [axis]: f.batch };
  const given = new Map(setup.given);
  if (o.resume && !checkpoint && !statSync(o.resume).isDirectory()) {
    const { tensors, metadata } = asUserError(() => readWeights(o.resume!));
    for (const [k, v] of asUserError(() => loadLegacyCheckpoint(tensors, metadata, o.resume!))) given.set(k, v);
  }
  // A bad --save target is found now, not after the last step.
  const save = o.save ? prepareCheckpoints(o.save, setup, { overwrite: !!o.overwrite, resumingFrom: checkpoint }) : undefined;
  const data: RealData | undefined = realData ? loadData(o, f.batch, f.seed) : undefined;
  const steps = f.steps ?? (f.epochs !== undefined ? f.epochs * data!.batches.perEpoch : TRAIN_DEFAULTS.steps);
  // Values, gradients and two optimiser moments: four times the forward program's memory.
  guardMemory(`training ${entry}`, checked, entry, dims, 4, { attach: setup.attach });
  const { backend, note } = await resolveBackend(o.backend);
  const loss = realData ? 'xent' : 'mse';
  const compileAt = (rows: number) =>
    compileTraining(checked, entry, { dims: { ...dims, [axis]: rows }, backend, optimizer: f.optimizer, seed: f.seed, naive: o.naive, given, attach: setup.attach, trainable: setup.trainable, loss, keep: realData ? ['y'] : [], clipGradNorm: f.clipGradNorm, gradNorm: !!o.log, lrRatio: f.lrRatio?.ratioOf, schedule: f.schedule(steps) });
  const trainer = await sizedTrainer(compileAt, f.batch);
  const main = trainer.main;
  if (data) checkModelFits(main, data, entry);
  const task = data ? undefined : unit.decl.kind === 'model' ? modelTask(setup, dims, main, f.seed) : layerTask(main, entry, f.batch, f.seed);
  const batch = (i: number) => data?.batches.batch(i) ?? task!.batch(i);

  const hash = programHash({ source: [file, o.adapterFile].flatMap((p) => (p ? [readFileSync(p, 'utf8')] : [])).join('\n'), entry, dims, loss, attach: setup.attach ?? null });
  const hyper = f.hyper(steps);
  let initialLoss: number | undefined;
  if (checkpoint) {
    const expected = new Map([...(await main.trainState())].map(([n, t]) => [n, t.shape]));
    try {
      const ck = readCheckpoint(checkpoint, { expected, programHash: hash, hyper });
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
    for (const n of setup.notes) io.err(n);
    const what = record.adapted.length && unit.decl.kind === 'model' ? `${record.adapted.length} ${[...new Set(record.adapted.map((l) => l.adapter))].join('/')} adapter(s) on ${entry}` : entry;
    io.err(`training ${what} (${file}) on ${backend.name}${note ? ` (${note})` : ''}${start ? `, resuming at step ${start} from ${checkpoint}` : ''}`);
    io.err(`  sizes: ${Object.entries(dims).map(([k, v]) => `${k}=${v}`).join(', ')} (batch axis ${axis})`);
    io.err(`  parameters: ${trainable.toLocaleString('en')} trainable, ${frozen.toLocaleString('en')} frozen; ${main.plan.kernels.length} kernels/step, ${((main.flops.forward + main.flops.backward) / 1e6).toFixed(1)} MFLOP/step`);
    io.err(`  ${f.describe(steps)}`);
    io.err(`  data: ${data ? data.describe : `teacher (synthetic): the frozen ${unit.decl.kind === 'model' ? 'model' : 'layer'} alone has loss ${task!.baselineLoss.toPrecision(4)}`}${before && data?.val ? `; before training: evaluation accuracy ${(100 * before.accuracy).toFixed(1)}%, loss ${before.loss.toPrecision(4)}` : ''}`);
    if (save) io.err(`  checkpoints: every ${f.saveEvery || '—'} steps and at the end in ${save.root} (newest ${f.keep} kept)`);
  }
  const show = progress({ io, quiet: !!o.json, tty: !!process.stderr.isTTY, start, steps, log: o.log });
  if (before && data?.val) show.evaluation(start, before);
  const evalEvery = f.evalEvery ?? data?.batches.perEpoch ?? 0;
  const t0 = performance.now();
  const result = await trainLoop({
    trainer,
    batch,
    steps,
    saveEvery: save ? f.saveEvery : 0,
    maxLossRatio: f.maxLossRatio,
    maxLoss: f.maxLoss,
    initialLoss,
    save: save
      ? (step, s, l, first) =>
          writeCheckpoint(save.root, { state: s, keep: f.keep, files: save.files((leaf) => s.get(leaf) ?? main.program.leaves.get(leaf)), trainer: { format: 'lily-trainer-state', version: 1, step, programHash: hash, hyper, initialLoss: first, loss: l } })
      : undefined,
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
      writeFileAtomic(o.plot, await lossPlotSvg(show.records, `${entry}: ${file}`));
    } catch (e) {
      io.err(`could not write the plot ${o.plot}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  trainer.dispose();
  const losses = result.losses;
  const savedNote = result.saved ? `the last good state (step ${result.saved.step}) is in ${result.saved.dir}` : save ? 'no checkpoint was written by this run' : 'nothing was saved (no --save)';
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
    model: entry,
    adapters: record.adapted.length,
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
    saved: result.saved ? save!.describe(result.saved.dir) : undefined,
  };
  if (o.json) io.out(JSON.stringify(summary, null, 2));
  else
    io.out(
      `${entry}: loss ${summary.firstLoss.toPrecision(4)} → ${summary.lastLoss.toPrecision(4)} in ${start ? `steps ${start + 1}–${steps}` : `${steps} steps`} (${msPerStep.toFixed(1)} ms/step on ${backend.name})${evaluation ? `; evaluation accuracy ${(100 * evaluation.before.accuracy).toFixed(1)}% → ${(100 * evaluation.after.accuracy).toFixed(1)}%` : ''}${summary.saved ? `; saved ${summary.saved}` : ''}`,
    );
  return 0;
}
