// lily verify FILE [--adapter NAME] [--runs K] [--seed S] [--json]: property tests that the
// optimised program equals the naive one (forward, backward) and autodiff equals finite differences.
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import { loadFile } from '../frontend.ts';
import { FAULTS } from '../rewrite/faults.ts';
import { entryDimNames, verifiableEntries, verifyAdapter, type VerifyResult } from '../verify.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { applyMemoryBudget, intFlag, MAX_MEMORY_HELP, parseSettings } from './options.ts';
import { guardMemory, INTERPRETER_FACTOR } from '../budget.ts';

export function registerVerify(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('verify')
    .description('property-test that the optimised program equals the naive math (fast-check, shrinking)')
    .argument('<file>', '.lily file')
    .option('--adapter <name>', 'only this adapter, model or function (default: every one in the file)')
    .option('--runs <k>', 'random cases per adapter', '25')
    .option('--seed <s>', 'fast-check seed (fixed: runs are reproducible)', '42')
    .option('--max-dim <m>', 'largest size tried for any dimension', '4')
    .option('--dims <list>', 'fix some sizes or hyper-parameters instead of randomising them', '')
    .option('--inject-fault <name>', `inject a deliberately wrong rewrite (${Object.keys(FAULTS).join(', ')}) to see verify catch it`)
    .option('--json', 'one JSON object: {ok, adapters: [result per entry], skipped: [{name, reason}]}')
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .action(
      wrap((file: string, opts: { adapter?: string; runs: string; seed: string; maxDim: string; dims: string; injectFault?: string; json?: boolean; maxMemory?: string }) => {
        applyMemoryBudget(opts.maxMemory);
        const checked = loadFile(file);
        if (opts.injectFault && !FAULTS[opts.injectFault]) fail('E-usage', `unknown fault '${opts.injectFault}'`, undefined, { expected: Object.keys(FAULTS).join(', ') });
        const results: VerifyResult[] = [];
        const runs = intFlag('--runs', opts.runs, 1);
        const seed = intFlag('--seed', opts.seed);
        const maxDim = intFlag('--max-dim', opts.maxDim, 1, 1024);
        const fixed = parseSettings(opts.dims);
        // Every adapter, model and function in the file, or the one named; what cannot be verified says why.
        const entries = verifiableEntries(checked, fixed);
        if (!entries.length) fail('E-name', `nothing to verify in ${file}: it declares no adapter, model or function`);
        const chosen = opts.adapter ? entries.filter((e) => e.name === opts.adapter) : entries;
        if (opts.adapter && !chosen.length)
          fail('E-name', `no adapter, model or function named '${opts.adapter}' in ${file}`, undefined, { expected: entries.map((e) => e.name).join(', ') });
        if (chosen.every((e) => e.skip)) fail('E-usage', chosen.map((e) => `cannot verify ${e.kind} ${e.name}: ${e.skip}`).join('; '));
        const skipped = chosen.filter((e) => e.skip);
        const names = chosen.filter((e) => !e.skip).map((e) => e.name);
        if (!opts.json) for (const e of skipped) io.out(`– ${e.name}: not verified: ${e.skip}`);
        for (const name of names) {
          // The largest case: every free size at --max-dim; three programs (naive, optimised, interpreter).
          guardMemory(`verifying ${name}`, checked, name, { ...Object.fromEntries(entryDimNames(checked, name).map((n) => [n, maxDim])), ...fixed }, 3 * INTERPRETER_FACTOR);
          const r = verifyAdapter(checked, name, {
            runs,
            seed,
            maxDim,
            fixed,
            faults: opts.injectFault ? [opts.injectFault] : undefined,
          });
          results.push(r);
          if (opts.json) continue;
          if (r.ok) io.out(`✓ ${name}: ${r.runs} random cases — optimised forward = interpreter, optimised gradients = naive gradients, gradients = finite differences`);
          else {
            const f = r.failure!;
            io.err(`✗ ${name}: the ${f.property} property fails (after ${r.runs} case(s); seed ${r.seed})`);
            io.err(`  counterexample (shrunk): --dims ${Object.entries(f.dims).map(([k, v]) => `${k}=${v}`).join(',')}  values seed ${f.valueSeed}`);
            io.err(`  ${f.detail}`);
          }
        }
        if (opts.json) io.out(JSON.stringify({ ok: results.every((r) => r.ok), adapters: results, skipped: skipped.map((e) => ({ name: e.name, reason: e.skip })) }, null, 2));
        return results.every((r) => r.ok) ? 0 : 1;
      }),
    );
}
