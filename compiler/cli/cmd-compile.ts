// lily compile FILE --adapter NAME --dims … [--explain] [--json] [--dump-after STAGE] [--timings]
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import { explain, formatExplanation } from '../explain.ts';
import { loadFile } from '../frontend.ts';
import { printGraph } from '../ir/print.ts';
import { compile, flopsSplit, STAGE_NAMES } from '../pipeline.ts';
import { formatTimings, Timings } from '../timings.ts';
import { cpuBackend } from '../../runtime/backends/cpu-exec.ts';
import { compileTraining } from '../../runtime/train.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { intFlag, parseSettings } from './options.ts';

export function registerCompile(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('compile')
    .description('compile an adapter (forward + backward) and report or dump what the compiler did')
    .argument('<file>', '.lily file')
    .requiredOption('--adapter <name>', 'adapter (or model / fn) to compile')
    .option('--dims <list>', 'sizes and hyper-parameters, e.g. N=1024,In=768,Out=768,r=16,E=4', '')
    .option('--explain', 'FLOPs before/after, rewrites with their reasons, parameters, mergeability')
    .option('--json', 'machine-readable output (with --explain)')
    .option('--dump-after <stage>', `print the IR after a stage: ${STAGE_NAMES.join(', ')}`)
    .option('--seed <n>', 'seed for parameter values', '0')
    .option('--timings', 'compile the training step as `lily train` does (initial values, CPU backend) and report the time of each stage (with --json: as JSON)')
    .action(
      wrap(async (file: string, opts: { adapter: string; dims: string; explain?: boolean; json?: boolean; dumpAfter?: string; seed: string; timings?: boolean }) => {
        const timings = opts.timings ? new Timings() : undefined;
        const checked = timings ? timings.time('check', () => loadFile(file)) : loadFile(file);
        if (!checked.units.has(opts.adapter) && !checked.fns.has(opts.adapter)) fail('E-name', `no adapter named '${opts.adapter}' in ${file}`, undefined, { expected: [...checked.units.keys()].join(', ') });
        const settings = parseSettings(opts.dims);
        if (timings) {
          const trainer = await compileTraining(checked, opts.adapter, { dims: settings, seed: intFlag('--seed', opts.seed), backend: cpuBackend(), timings });
          trainer.dispose();
          io.out(opts.json ? JSON.stringify({ adapter: opts.adapter, total_ms: timings.total(), phases_ms: Object.fromEntries(timings.ms) }, null, 2) : `${opts.adapter}: compile time by stage\n${formatTimings(timings)}`);
          return 0;
        }
        if (opts.dumpAfter) {
          if (!STAGE_NAMES.includes(opts.dumpAfter)) fail('E-usage', `unknown stage '${opts.dumpAfter}'`, undefined, { expected: STAGE_NAMES.join(', ') });
          io.out(printGraph(compile(checked, opts.adapter, { settings, seed: intFlag('--seed', opts.seed), until: opts.dumpAfter, params: 'shapes' }).graph));
          return 0;
        }
        if (opts.explain || opts.json) {
          const e = explain(checked, opts.adapter, settings, intFlag('--seed', opts.seed));
          io.out(opts.json ? JSON.stringify(e, null, 2) : formatExplanation(e));
          return 0;
        }
        const p = compile(checked, opts.adapter, { settings, seed: intFlag('--seed', opts.seed), params: 'shapes' });
        const f = flopsSplit(p.graph);
        io.out(`${opts.adapter}: ${p.graph.live().length} IR nodes; forward ${f.forward.toLocaleString('en-US')} FLOPs, backward ${f.backward.toLocaleString('en-US')} FLOPs (use --explain for details)`);
        return 0;
      }),
    );
}
