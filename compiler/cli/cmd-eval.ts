// lily eval FILE --model NAME --data …: cross-entropy and accuracy over every example of a labelled
// data set (read by lily train's loader, readDataset), with the float64 reference interpreter, in
// batches of --batch rows (the last one partial) — on real weights (--base, --peft) or an adapter
// attached with --target-modules.
// Batches matter for adapters that mix tokens (Lily averages its router over each call's rows).
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import { runEntry } from '../interp/run.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import { largest } from '../../runtime/tensor/reduce.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { addModelFlags, setupModel, type ModelFlags } from './model-setup.ts';
import { readSplit } from './train-data.ts';

interface EvalCliOptions extends ModelFlags {
  data: string;
  split: string;
  label?: string;
  batch: string;
  json?: boolean;
}

export function registerEval(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  const cmd = program
    .command('eval')
    .description('loss and accuracy of a model (with its adapters) over every example of a labelled data set (float64 reference)')
    .argument('<file>', '.lily file');
  addModelFlags(cmd, { model: 'the model to evaluate', adapter: 'the adapter to attach with --target-modules' })
    .option('--dims <list>', 'sizes and hyper-parameters of the model', '')
    .requiredOption('--data <name|file>', 'fashion-mnist | fashion-mnist-full | a labelled data set as lily train reads it: .csv/.tsv, .jsonl, .safetensors or .npz (x [n, features], y [n] class numbers), a folder of x.npy + y.npy or IDX files')
    .option('--split <name>', "test (the source's test split, e.g. IDX t10k files; else every row) or train", 'test')
    .option('--label <column>', 'CSV: the label column (name or 0-based index)')
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
        const data = readSplit(o.data, o.split, o.label);
        let loss = 0;
        let right = 0;
        for (let start = 0; start < data.n; start += batch) {
          const rows = Math.min(batch, data.n - start);
          const x = { shape: [rows, data.features], data: Float64Array.from(data.x.subarray(start * data.features, (start + rows) * data.features)) };
          const out = runEntry(setup.checked, setup.entry, { settings: setup.settings, inputs: new Map([['x', x]]), given: setup.given, attach: setup.attach }).output;
          if (out.kind !== 'tensor') fail('E-usage', `${setup.entry} does not return a tensor`);
          const y = out.t as Tensor;
          const k = y.shape[1];
          for (let r = 0; r < rows; r++) {
            const row = y.data.subarray(r * k, (r + 1) * k);
            const label = data.labels[start + r];
            if (label >= k) fail('E-usage', `--data: label ${label} of example ${start + r} is outside the model's ${k} outputs`);
            // Cross-entropy of the logits, computed stably.
            const m = largest(row);
            const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
            loss += lse - row[label];
            if (row.indexOf(m) === label) right++;
          }
        }
        const result = { model: setup.entry, data: data.source, examples: data.n, batch, loss: loss / data.n, accuracy: right / data.n };
        if (o.json) io.out(JSON.stringify(result));
        else io.out(`${setup.entry} on ${data.source}: ${data.n} examples, cross-entropy ${result.loss.toPrecision(4)}, accuracy ${((100 * right) / data.n).toFixed(2)}%`);
        return 0;
      }),
    );
}
