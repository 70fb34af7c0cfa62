// lily compare FILE --model ViT --base W.safetensors --task digits-1k --methods lora,lily,… --budget N:
// PEFT methods side by side at one parameter budget (see compare/compare.ts), written as a table,
// compare.json, compare.md and SVG plots.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import { resolveBackend, BACKEND_NAMES } from '../../runtime/backends/select.ts';
import { runCompare } from './compare/compare.ts';
import { METHOD_NAMES, parseMethod } from './compare/methods.ts';
import { markdown, plots, tableText } from './compare/report.ts';
import type { Action, Io, Wrapped } from './main.ts';

interface CompareCliOptions {
  model: string;
  base?: string;
  task: string;
  methods: string;
  budget?: string;
  targetModules: string;
  head: string;
  steps: string;
  batch: string;
  seeds: string;
  lr: string;
  lrSweep?: string;
  valFraction: string;
  rankThreshold: string;
  backend: string;
  out: string;
  json?: boolean;
}

const whole = (flag: string, text: string, min = 1) => {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= min)) fail('E-usage', `${flag} must be a whole number ≥ ${min}, found '${text}'`);
  return n;
};
const positive = (flag: string, text: string) => {
  const n = Number(text);
  if (!(n > 0 && Number.isFinite(n))) fail('E-usage', `${flag} must be a positive number, found '${text}'`);
  return n;
};

export function registerCompare(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('compare')
    .description('train PEFT methods side by side at one parameter budget (same schedule and seeds) and report accuracy, step time, ΔW rank and mergeability')
    .argument('<file>', '.lily file with the model')
    .requiredOption('--model <name>', 'the model (e.g. ViT in stdlib/models/vit.lily)')
    .option('--base <file>', "the model's pretrained weights: a PyTorch state dict (.safetensors)")
    .option('--task <list>', 'image tasks: digits-1k, rotation-1k, fashion-mnist (examples/data) or folders in the IDX layout; comma-separated', 'digits-1k')
    .option('--methods <list>', `comma-separated: ${METHOD_NAMES.join(', ')}`, 'lora,lily')
    .option('--budget <n>', 'trainable parameters (adapters + head) each method is sized to, within 5%')
    .option('--target-modules <list>', 'the Linear layers the adapters attach to', 'q,v')
    .option('--head <list>', "layers every method trains whole (PEFT's modules_to_save)", 'head')
    .option('--steps <k>', 'training steps per run', '100')
    .option('--batch <n>', 'images per step (also the evaluation batch)', '50')
    .option('--seeds <k>', 'runs per method (seeds 0..k-1): accuracy mean ± std', '1')
    .option('--lr <x>', 'learning rate (without --lr-sweep)', '0.003')
    .option('--lr-sweep <list>', 'learning rates to choose from per method, on a validation split of the training images (seed 0)')
    .option('--val-fraction <x>', 'training images held out for --lr-sweep', '0.2')
    .option('--rank-threshold <x>', 'effective rank counts singular values above this fraction of the largest', '0.01')
    .option('--backend <name>', `${BACKEND_NAMES.join('|')}`, 'cpu')
    .option('--out <dir>', 'where compare.json, compare.md and the SVG plots go', 'compare-out')
    .option('--json', 'print compare.json to stdout instead of the table')
    .action(
      wrap(async (file: string, o: CompareCliOptions) => {
        const methods = o.methods.split(',').map((s) => s.trim()).filter(Boolean).map(parseMethod);
        if (!methods.length) fail('E-usage', '--methods lists no method');
        const lrs = (o.lrSweep ?? o.lr).split(',').map((s) => positive(o.lrSweep ? '--lr-sweep' : '--lr', s.trim()));
        const valFraction = Number(o.valFraction);
        if (!(valFraction > 0 && valFraction < 1)) fail('E-usage', `--val-fraction must be between 0 and 1, found '${o.valFraction}'`);
        const { backend } = await resolveBackend(o.backend);
        const result = await runCompare({
          file,
          model: o.model,
          base: o.base,
          targets: o.targetModules,
          head: o.head,
          tasks: o.task.split(',').map((s) => s.trim()).filter(Boolean),
          methods,
          budget: o.budget === undefined ? undefined : whole('--budget', o.budget),
          steps: whole('--steps', o.steps),
          batch: whole('--batch', o.batch),
          seeds: whole('--seeds', o.seeds),
          lrs,
          valFraction,
          rankThreshold: positive('--rank-threshold', o.rankThreshold),
          backend,
          log: (line) => (o.json ? undefined : io.err(line)),
        });
        try {
          mkdirSync(o.out, { recursive: true });
          const svgs = await plots(result);
          for (const [name, text] of svgs) writeFileSync(join(o.out, name), text);
          writeFileSync(join(o.out, 'compare.json'), JSON.stringify(result, null, 1));
          writeFileSync(join(o.out, 'compare.md'), markdown(result, [...svgs.keys()]));
        } catch (e) {
          const err = e as NodeJS.ErrnoException;
          if (err.code) fail('E-usage', `--out ${o.out}: cannot write: ${err.code}`);
          throw e;
        }
        if (o.json) io.out(JSON.stringify(result));
        else io.out(`${tableText(result)}\n\nwrote ${join(o.out, 'compare.md')}, compare.json and 3 SVG plots (${result.seconds.toFixed(0)} s)`);
        return 0;
      }),
    );
}
