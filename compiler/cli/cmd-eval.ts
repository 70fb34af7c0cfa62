// lily eval FILE --model NAME --data …: loss (and accuracy, for class labels) over every example of
// a labelled data set, with the float64 reference interpreter, in batches of --batch rows (the last
// one partial) — on real weights (--base, --peft) or an adapter attached with --target-modules.
// Batches matter for adapters that mix tokens (Lily averages its router over each call's rows).
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import { runEntry } from '../interp/run.ts';
import { IdxError } from '../../runtime/data/idx.ts';
import { fashionMnist } from '../../runtime/data/fashion-mnist.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { addModelFlags, setupModel, type ModelFlags } from './model-setup.ts';
import { readInputFile } from './options.ts';

interface EvalCliOptions extends ModelFlags {
  data: string;
  split: string;
  batch: string;
  json?: boolean;
}

/** Labelled examples: x [n, features], and class labels (integers) or targets [n, k]. */
interface Labelled {
  x: Float64Array;
  features: number;
  n: number;
  labels?: Float64Array;
  targets?: Tensor;
  source: string;
}

function loadData(spec: string, split: string): Labelled {
  if (spec === 'fashion-mnist' || spec === 'fashion-mnist-full') {
    try {
      const d = fashionMnist(spec === 'fashion-mnist-full' ? 'full' : 'embedded');
      const set = split === 'train' ? d.train : d.test;
      return { x: Float64Array.from(set.images), features: 784, n: set.n, labels: Float64Array.from(set.labels), source: `${d.source} (${split})` };
    } catch (e) {
      if (e instanceof IdxError) fail('E-file', e.message);
      throw e;
    }
  }
  // A file with tensors `x` [n, …] and `y`: class labels [n] (whole numbers) or targets [n, k].
  const x = readInputFile('x', spec, '--data');
  const y = readInputFile('y', spec, '--data');
  if (x.shape.length !== 2) fail('E-usage', `--data ${spec}: x must be [examples, features], found [${x.shape}]`);
  const n = x.shape[0];
  if (y.shape[0] !== n) fail('E-usage', `--data ${spec}: x has ${n} examples but y has ${y.shape[0]}`);
  const classes = y.shape.length === 1 && y.data.every((v) => Number.isInteger(v) && v >= 0);
  return { x: x.data as Float64Array, features: x.shape[1], n, labels: classes ? (y.data as Float64Array) : undefined, targets: classes ? undefined : y, source: spec };
}

export function registerEval(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  const cmd = program
    .command('eval')
    .description('loss and accuracy of a model (with its adapters) over every example of a labelled data set (float64 reference)')
    .argument('<file>', '.lily file');
  addModelFlags(cmd, { model: 'the model to evaluate', adapter: 'the adapter to attach with --target-modules' })
    .option('--dims <list>', 'sizes and hyper-parameters of the model', '')
    .requiredOption('--data <name|file>', 'fashion-mnist | fashion-mnist-full | FILE.safetensors holding x [n, features] and y (class labels [n], or targets [n, k])')
    .option('--split <name>', 'for the built-in sets: test or train', 'test')
    .option('--batch <n>', 'rows per forward call (the last batch may be smaller)', '256')
    .option('--json', 'print one JSON object')
    .addHelpText('after', '\nExamples:\n  lily eval examples/fashion.lily --model Base --base base.safetensors --data fashion-mnist\n  lily eval examples/peft/mlp.lily --model MLP --base base.safetensors --peft adapter --data data.safetensors')
    .action(
      wrap((file: string, o: EvalCliOptions) => {
        const batch = Number(o.batch);
        if (!(Number.isInteger(batch) && batch >= 1)) fail('E-usage', `--batch must be a whole number ≥ 1, found '${o.batch}'`);
        if (o.split !== 'test' && o.split !== 'train') fail('E-usage', `--split must be test or train, found '${o.split}'`);
        const setup = setupModel(file, o);
        if (setup.kind !== 'model') fail('E-usage', `${setup.entry} is an adapter; eval takes a model (--model NAME)`);
        if (!o.json) for (const n of setup.notes) io.err(n);
        const data = loadData(o.data, o.split);
        let loss = 0;
        let right = 0;
        for (let start = 0; start < data.n; start += batch) {
          const rows = Math.min(batch, data.n - start);
          const x = { shape: [rows, data.features], data: data.x.subarray(start * data.features, (start + rows) * data.features) };
          const out = runEntry(setup.checked, setup.entry, { settings: setup.settings, inputs: new Map([['x', x]]), given: setup.given, attach: setup.attach }).output;
          if (out.kind !== 'tensor') fail('E-usage', `${setup.entry} does not return a tensor`);
          const y = out.t as Tensor;
          const k = y.shape[1];
          for (let r = 0; r < rows; r++) {
            const row = y.data.subarray(r * k, (r + 1) * k);
            if (data.labels) {
              const label = data.labels[start + r];
              if (label >= k) fail('E-usage', `--data: label ${label} of example ${start + r} is outside the model's ${k} outputs`);
              // Cross-entropy of the logits, computed stably.
              const m = Math.max(...row);
              const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
              loss += lse - row[label];
              if (row.indexOf(m) === label) right++;
            } else {
              const t = data.targets!.data.subarray((start + r) * k, (start + r + 1) * k);
              if (data.targets!.shape[1] !== k) fail('E-shape', `--data: targets have ${data.targets!.shape[1]} columns but the model gives ${k}`);
              loss += row.reduce((s, v, i) => s + (v - t[i]) ** 2, 0) / k;
            }
          }
        }
        const result = { model: setup.entry, data: data.source, examples: data.n, batch, loss: loss / data.n, ...(data.labels ? { accuracy: right / data.n } : {}) };
        if (o.json) io.out(JSON.stringify(result));
        else io.out(`${setup.entry} on ${data.source}: ${data.n} examples, ${data.labels ? `cross-entropy ${result.loss.toPrecision(4)}, accuracy ${(100 * right / data.n).toFixed(2)}%` : `MSE ${result.loss.toPrecision(4)}`}`);
        return 0;
      }),
    );
}
