// lily merge FILE --adapter NAME --dims …: can the adapter be folded into the frozen weight? If so,
// ΔW = f(I) − f(0) (and Δb = f(0)); otherwise the reason.
import type { Command } from 'commander';
import { mergeVerdict } from '../analysis/mergeable.ts';
import { loadFile } from '../frontend.ts';
import { fail } from '../diagnostics.ts';
import { toNested } from '../../runtime/tensor/index.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { applyMemoryBudget, intFlag, MAX_MEMORY_HELP, parseSettings } from './options.ts';

export function registerMerge(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('merge')
    .description('decide whether an adapter merges into its frozen layer, and compute ΔW (= delta(I)) if so')
    .argument('<file>', '.lily file')
    .requiredOption('--adapter <name>', 'adapter name')
    .option('--dims <list>', 'sizes and hyper-parameters, e.g. In=8,Out=8,r=2', '')
    .option('--seed <n>', 'seed for parameter values', '0')
    .option('--params <mode>', "parameter values ΔW is computed for: 'init' (each initialiser; an untrained LoRA gives ΔW = 0) or 'random'", 'init')
    .option('--json', 'print the verdict and ΔW, Δb as JSON')
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .action(
      wrap((file: string, opts: { adapter: string; dims: string; seed: string; params: string; json?: boolean; maxMemory?: string }) => {
        if (opts.params !== 'init' && opts.params !== 'random') fail('E-usage', `--params must be init or random, found '${opts.params}'`);
        applyMemoryBudget(opts.maxMemory);
        const checked = loadFile(file);
        const v = mergeVerdict(checked, opts.adapter, parseSettings(opts.dims), intFlag('--seed', opts.seed), opts.params);
        if (opts.json) {
          io.out(JSON.stringify({ adapter: opts.adapter, mergeable: v.mergeable, reason: v.reason, deltaW: v.deltaW && toNested(v.deltaW), deltaB: v.deltaB && toNested(v.deltaB) }));
          return v.mergeable ? 0 : 1;
        }
        io.out(`${opts.adapter}: ${v.mergeable ? 'mergeable' : 'not mergeable'} — ${v.reason}`);
        if (v.deltaW) io.out(`ΔW: [${v.deltaW.shape.join(', ')}], max |ΔW| = ${Math.max(...v.deltaW.data.map(Math.abs)).toPrecision(4)}`);
        if (v.deltaB && v.deltaB.data.some((x) => x !== 0)) io.out(`Δb: [${v.deltaB.shape.join(', ')}]`);
        return v.mergeable ? 0 : 1;
      }),
    );
}
