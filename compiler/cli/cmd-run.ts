// lily run FILE --fn NAME --dims …: evaluate a function, an adapter's delta/forward, or a model's
// forward with the reference interpreter (float64), on random or given inputs.
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import { loadFile } from '../frontend.ts';
import { resultJson, runEntry } from '../interp/run.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { applyMemoryBudget, intFlag, MAX_MEMORY_HELP, parseInputs, parseSettings } from './options.ts';
import { guardMemory, INTERPRETER_FACTOR } from '../budget.ts';
import { toNested, type Tensor } from '../../runtime/tensor/index.ts';

export function registerRun(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('run')
    .description('evaluate with the reference interpreter: a fn, an adapter (delta or forward) or a model (forward)')
    .argument('<file>', '.lily file')
    .requiredOption('--fn <name>', 'function, adapter or model name (Adapter.method to pick a method)')
    .option('--dims <list>', 'sizes and hyper-parameters, e.g. N=4,In=8,Out=8,r=2', '')
    .option('--inputs <list>', "given inputs as JSON, ';'-separated: 'x=[[1,2],[3,4]]'")
    .option('--seed <n>', 'seed for random inputs and parameters', '0')
    .option('--params <mode>', "'init' (each parameter's initialiser) or 'random' (N(0, 0.25) everywhere)", 'init')
    .option('--json', 'print inputs and outputs as JSON')
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .action(
      wrap((file: string, opts: { fn: string; dims: string; inputs?: string; seed: string; params: string; json?: boolean; maxMemory?: string }) => {
        if (opts.params !== 'init' && opts.params !== 'random') fail('E-usage', `--params must be init or random, found '${opts.params}'`);
        applyMemoryBudget(opts.maxMemory);
        const checked = loadFile(file);
        const settings = parseSettings(opts.dims);
        guardMemory(`running ${opts.fn}`, checked, opts.fn, settings, INTERPRETER_FACTOR);
        const result = runEntry(checked, opts.fn, {
          settings,
          inputs: parseInputs(opts.inputs),
          seed: intFlag('--seed', opts.seed),
          params: opts.params,
        });
        if (opts.json) {
          io.out(JSON.stringify({ entry: opts.fn, inputs: Object.fromEntries([...result.inputs].map(([k, t]) => [k, toNested(t)])), output: resultJson(result.output) }));
        } else {
          for (const [k, t] of result.inputs) io.out(`${k}: [${t.shape.join(', ')}] ${format(toNested(t))}`);
          const o = result.output;
          io.out(o.kind === 'tensor' ? `=> [${(o.t as Tensor).shape.join(', ')}] ${format(resultJson(o))}` : `=> ${o.v}`);
        }
        return 0;
      }),
    );
}

const format = (x: unknown): string => JSON.stringify(x, (_k, v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v));
