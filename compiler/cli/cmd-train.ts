// lily train FILE --adapter NAME …: train an adapter attached to a frozen linear layer, on the
// embedded default data (a teacher layer with a hidden low-rank change), with compiled kernels.
import type { Command } from 'commander';
import { guardMemory } from '../budget.ts';
import cliProgress from 'cli-progress';
import { fail } from '../diagnostics.ts';
import { compileTraining } from '../../runtime/train.ts';
import { teacherModelTask, teacherTask } from '../../runtime/data/synthetic.ts';
import { fashionMnist } from '../../runtime/data/fashion-mnist.ts';
import { IdxError } from '../../runtime/data/idx.ts';
import { runEntry } from '../interp/run.ts';
import type { Trainer } from '../../runtime/train.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import { resolveBackend, BACKEND_NAMES } from '../../runtime/backends/select.ts';
import { loadLegacyCheckpoint } from '../../runtime/checkpoint/adapter-checkpoint.ts';
import { readWeights } from '../../runtime/peft/node.ts';
import { existsSync, statSync } from 'node:fs';
import { addModelFlags, asUserError, setupModel, type ModelFlags, type ModelSetup } from './model-setup.ts';
import { prepareSave, saveTrained } from './save.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { applyMemoryBudget, intFlag, MAX_MEMORY_HELP } from './options.ts';

interface TrainCliOptions extends ModelFlags {
  maxMemory?: string;
  overwrite?: boolean;
  dims?: string;
  batch: string;
  steps: string;
  lr: string;
  optimizer: string;
  backend: string;
  seed: string;
  save?: string;
  resume?: string;
  data: string;
  swapClasses?: string;
  json?: boolean;
  naive?: boolean;
}

export function registerTrain(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  const cmd = program
    .command('train')
    .description('train an adapter on a frozen linear layer, or the adapters attached to a model (default data: a teacher with hidden low-rank changes)')
    .argument('<file>', '.lily file');
  addModelFlags(cmd, {
    model: 'the model to train (its adapters, or all of it if it has none)',
    adapter: 'the adapter to attach with --target-modules (LoRA, Lily, DoRA, … or one from --adapter-file); without --model, the adapter (or model) to train',
    peft: 'start from an adapter folder written by PEFT or by --save (its config chooses the method, hyper-parameters and targets)',
  })
    .option('--dims <list>', "sizes and hyper-parameters (an adapter on its own layer: In=64,Out=64 unless given; otherwise the program's defaults)")
    .option('--batch <n>', 'rows per batch (N)', '64')
    .option('--steps <k>', 'training steps', '200')
    .option('--lr <x>', 'learning rate', '0.01')
    .option('--optimizer <name>', 'adamw or sgd', 'adamw')
    .option('--backend <name>', `${BACKEND_NAMES.join('|')}`, 'auto')
    .option('--seed <n>', 'seed for parameters and data', '0')
    .option('--save <dir>', "write the trained adapter as PEFT's save_pretrained does: DIR/adapter_model.safetensors + DIR/adapter_config.json (a plain model: a PyTorch state dict FILE.safetensors)")
    .option('--overwrite', '--save into a folder that already holds an adapter')
    .option('--resume <dir>', 'continue from a --save folder (or an older Lily checkpoint file)')
    .option('--swap-classes <a,b>', 'images: exchange the labels of two classes (a low-rank change of the task, for adapters to learn)')
    .option('--data <name>', 'teacher (synthetic, default) | fashion-mnist (the embedded subset) | fashion-mnist-full (Debian\'s dataset-fashion-mnist)', 'teacher')
    .option('--naive', 'skip the contraction optimiser (to compare)')
    .option('--json', 'print a JSON summary')
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .action(
      wrap(async (file: string, o: TrainCliOptions) => {
        if (o.resume && !o.peft && existsSync(o.resume) && statSync(o.resume).isDirectory()) o.peft = o.resume;
        applyMemoryBudget(o.maxMemory);
        const setup = setupModel(file, { ...o, defaults: { In: 64, Out: 64 } });
        const { checked, entry, record } = setup;
        const unit = checked.units.get(entry)!;
        const adapted = record.adapted.length > 0;
        // A plain model trains as a whole on real data (e.g. a base, before adapters are attached).
        if (unit.decl.kind === 'model' && !adapted && o.data === 'teacher')
          fail('E-usage', `${entry} has no adapters attached: attach one (--target-modules … --adapter …), or train the whole model on real data (--data fashion-mnist)`);
        const steps = Number(o.steps);
        const N = Number(o.batch);
        const lr = Number(o.lr);
        if (!(steps >= 1 && N >= 1 && lr > 0)) fail('E-usage', '--steps and --batch must be ≥ 1 and --lr > 0');
        if (o.optimizer !== 'adamw' && o.optimizer !== 'sgd') fail('E-usage', `--optimizer must be adamw or sgd, found '${o.optimizer}'`);
        const dims = { ...setup.settings, N };
        const DATA = ['teacher', 'fashion-mnist', 'fashion-mnist-full'];
        if (!DATA.includes(o.data)) fail('E-usage', `unknown --data '${o.data}'`, undefined, { expected: DATA.join(', ') });
        const saveTo = o.save ? prepareSave(o.save, setup, !!o.overwrite) : undefined;
        // Values, gradients and two optimiser moments: four times the forward program's memory.
        guardMemory(`training ${entry}`, checked, entry, dims, 4, { attach: setup.attach });
        const { backend, note } = await resolveBackend(o.backend);
        const optimizer = o.optimizer === 'sgd' ? { kind: 'sgd' as const, lr } : { kind: 'adamw' as const, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
        const images = o.data !== 'teacher';
        const given = new Map(setup.given);
        if (o.resume && !statSync(o.resume).isDirectory()) {
          const { tensors, metadata } = asUserError(() => readWeights(o.resume!));
          for (const [k, v] of asUserError(() => loadLegacyCheckpoint(tensors, metadata, o.resume!))) given.set(k, v);
        }
        if (!o.json) for (const n of setup.notes) io.err(n);
        const trainer = await compileTraining(checked, entry, { dims, backend, optimizer, seed: intFlag('--seed', o.seed), naive: o.naive, given, attach: setup.attach, loss: images ? 'xent' : 'mse', keep: images ? ['y'] : [] });
        const task = images ? await imageTask(trainer, N, o.data === 'fashion-mnist-full' ? 'full' : 'embedded', parseSwap(o.swapClasses)) : unit.decl.kind === 'model' ? modelTask(setup, dims, trainer, intFlag('--seed', o.seed)) : layerTask(trainer, entry, N, intFlag('--seed', o.seed));
        if (!o.json) io.err(`training ${adapted && unit.decl.kind === 'model' ? `${record.adapted.length} ${[...new Set(record.adapted.map((l) => l.adapter))].join('/')} adapter(s) on ${entry}` : entry} on ${backend.name}${note ? ` (${note})` : ''}: ${trainer.plan.kernels.length} kernels/step, ${((trainer.flops.forward + trainer.flops.backward) / 1e6).toFixed(1)} MFLOP/step; the frozen ${unit.decl.kind === 'model' ? 'model' : 'layer'} alone: ${images ? `test accuracy ${(100 * task.baselineLoss).toFixed(1)}%` : `loss ${task.baselineLoss.toPrecision(4)}`}`);
        const bar = !o.json && process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'step {value}/{total} [{bar}] loss {loss}  {ms} ms/step', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
        bar?.start(steps, 0, { loss: '-', ms: '-' });
        const losses: number[] = [];
        const t0 = performance.now();
        // No lost work: with --save, keep a recent good snapshot (every tenth of the run) and write
        // it if the loss diverges or the user interrupts (Ctrl-C).
        const every = Math.max(1, Math.floor(steps / 10));
        let snapshot: { step: number; params: Awaited<ReturnType<typeof trainer.namedParameters>> } | undefined;
        // A saved value: the trained parameter, else the frozen weight the program was built with.
        const save = (params: Map<string, { shape: number[]; data: Float32Array }>) =>
          saveTrained(saveTo!, setup, (leaf) => params.get(leaf) ?? trainer.program.leaves.get(leaf) ?? bug(`no value for '${leaf}'`));
        const saveSnapshot = (why: string) => {
          if (!saveTo || !snapshot) return undefined;
          save(snapshot.params);
          return `${why}: saved the parameters after step ${snapshot.step} to ${saveTo}`;
        };
        let interrupted = false;
        const onSigint = () => (interrupted = true);
        process.once('SIGINT', onSigint);
        process.once('SIGTERM', onSigint);
        for (let i = 0; i < steps && !interrupted; i++) {
          if (o.save && i % every === 0) snapshot = { step: i, params: await trainer.namedParameters() };
          const loss = await trainer.step(task.batch(i));
          // A CPU step never yields to the event loop by itself: let signals (Ctrl-C) be delivered.
          await new Promise((resolve) => setImmediate(resolve));
          if (!Number.isFinite(loss)) {
            bar?.stop();
            process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
            const saved = saveSnapshot('diverged');
            fail('E-train', `the loss became ${loss} at step ${i + 1}; lower --lr (now ${lr}) or check the adapter's scale`, undefined, {
              notes: [`last finite loss: ${losses.filter(Number.isFinite).at(-1) ?? 'none'}`, ...(saved ? [saved] : [])],
            });
          }
          losses.push(loss);
          const ms = (performance.now() - t0) / (i + 1);
          bar?.update(i + 1, { loss: loss.toPrecision(4), ms: ms.toFixed(1) });
          if (!bar && !o.json && (i === 0 || (i + 1) % Math.max(1, Math.floor(steps / 10)) === 0)) io.err(`step ${i + 1}/${steps}: loss ${loss.toPrecision(4)} (${ms.toFixed(1)} ms/step)`);
        }
        bar?.stop();
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
        if (interrupted) {
          if (saveTo) save(await trainer.namedParameters());
          io.err(`interrupted after ${losses.length} steps${saveTo ? `; saved the parameters to ${saveTo}` : ''}`);
          trainer.dispose();
          return 130;
        }
        const msPerStep = (performance.now() - t0) / steps;
        let saved: string | undefined;
        if (saveTo) saved = save(await trainer.namedParameters());
        const evaluate = (task as { accuracy?: () => Promise<number> }).accuracy;
        const accuracy = evaluate ? { before: task.baselineLoss, after: await evaluate() } : undefined;
        const summary = { model: entry, adapters: record.adapted.length, backend: backend.name, data: o.data, steps, batch: N, firstLoss: losses[0], lastLoss: losses.at(-1)!, ...(accuracy ? { testAccuracy: accuracy } : { baselineLoss: task.baselineLoss }), msPerStep, kernels: trainer.plan.kernels.length, saved };
        trainer.dispose();
        if (o.json) io.out(JSON.stringify(summary, null, 2));
        else io.out(`${entry}: loss ${summary.firstLoss.toPrecision(4)} → ${summary.lastLoss.toPrecision(4)} in ${steps} steps (${msPerStep.toFixed(1)} ms/step on ${backend.name})${accuracy ? `; test accuracy ${(100 * accuracy.before).toFixed(1)}% → ${(100 * accuracy.after).toFixed(1)}%` : ''}${saved ? `; saved ${saved}` : ''}`);
        return 0;
      }),
    );
}

/** Default data for an adapter on one frozen layer: a teacher layer with a hidden low-rank change. */
function layerTask(trainer: Trainer, adapter: string, N: number, seed: number) {
  const W0 = trainer.program.leaves.get('base.W');
  const b0 = trainer.program.leaves.get('base.b');
  if (!W0 || !b0) fail('E-usage', `${adapter} does not use its frozen layer; nothing to train against`);
  const [In, Out] = W0.shape;
  return teacherTask({ N, In, Out, W0: W0.data, b0: b0.data, seed });
}

/** Default data for a model with adapters attached: the same model with hidden low-rank changes in its adapted layers. */
function modelTask(setup: ModelSetup, dims: Record<string, number | boolean>, trainer: Trainer, seed: number) {
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

/**
 * Fashion-MNIST: batches in order through the training images (labels one-hot), and accuracy on the
 * test images (whole batches, so every evaluation sees the batch size it was compiled for).
 * `baselineLoss` here is the test accuracy before training.
 */
async function imageTask(trainer: Trainer, N: number, which: 'embedded' | 'full', swap?: [number, number]) {
  let data;
  try {
    data = fashionMnist(which);
    if (swap)
      for (const set of [data.train, data.test]) set.labels = set.labels.map((l) => (l === swap[0] ? swap[1] : l === swap[1] ? swap[0] : l));
  } catch (e) {
    if (e instanceof IdxError) fail('E-file', e.message);
    throw e;
  }
  const xShape = trainer.program.leaves.get('x')!.shape;
  const yShape = trainer.program.graph.shape(trainer.program.graph.outputs.get('y')!);
  if (xShape.length !== 2 || xShape[1] !== 784 || yShape[1] !== 10)
    fail('E-usage', `Fashion-MNIST needs a model from [N, 784] to [N, 10]; this one maps [${xShape}] to [${yShape}] (set In=784, K=10 with --dims)`);
  const { train, test } = data;
  const batch = (i: number) => {
    const x = new Float32Array(N * 784);
    const t = new Float32Array(N * 10);
    for (let n = 0; n < N; n++) {
      const j = (i * N + n) % train.n;
      x.set(train.images.subarray(j * 784, (j + 1) * 784), n * 784);
      t[n * 10 + train.labels[j]] = 1;
    }
    return { x, t };
  };
  const accuracy = async () => {
    let right = 0;
    const batches = Math.floor(test.n / N);
    if (!batches) fail('E-usage', `--batch ${N} is larger than the ${test.n} test images`);
    for (let b = 0; b < batches; b++) {
      await trainer.exec.set('x', test.images.subarray(b * N * 784, (b + 1) * N * 784));
      await trainer.exec.run();
      const y = await trainer.exec.read('y');
      for (let n = 0; n < N; n++) {
        const row = y.subarray(n * 10, n * 10 + 10);
        if (row.indexOf(Math.max(...row)) === test.labels[b * N + n]) right++;
      }
    }
    return right / (batches * N);
  };
  const baselineLoss = await accuracy();
  return { batch, baselineLoss, accuracy };
}

function parseSwap(text?: string): [number, number] | undefined {
  if (!text) return undefined;
  const m = /^(\d),(\d)$/.exec(text);
  if (!m || m[1] === m[2]) fail('E-usage', `--swap-classes takes two different class numbers 0-9, as in 0,6; found '${text}'`);
  return [Number(m[1]), Number(m[2])];
}

const bug = (why: string): never => {
  throw new Error(`internal: ${why}`);
};
