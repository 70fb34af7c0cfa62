// lily params FILE --dims … [--layers L]: trainable parameters per adapter and in total.
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import { loadFile } from '../frontend.ts';
import { countParams } from '../params.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { intFlag, parseSettings } from './options.ts';
import { addModelFlags, setupModel } from './model-setup.ts';

export function registerParams(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  const cmd = program
    .command('params')
    .description('count parameters of each adapter (and model) for L adapted layers of one target')
    .argument('<file>', '.lily file')
    .option('--dims <list>', 'sizes and hyper-parameters, e.g. In=768,Out=768,r=16,E=4', '')
    .option('--layers <L>', 'number of adapted layers of the target', '1');
  addModelFlags(cmd, { model: "count this model, with an adapter attached by --target-modules (PEFT's count)", adapter: 'only this adapter or model; with --target-modules, the adapter to attach' }, false)
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  lily params stdlib/adapters/lily.lily --adapter Lily --dims In=768,Out=768,r=16,E=4 --layers 12\n  lily params examples/peft/stack.lily --model LilyStack --target-modules fc --adapter Lily --hparams r=4,E=3,stride=2')
    .action(
      wrap((file: string, opts: { dims: string; layers: string; adapter?: string; model?: string; targetModules?: string; hparams?: string; adapterFile?: string; json?: boolean }) => {
        if (opts.model) {
          const setup = setupModel(file, opts);
          const c = countParams(setup.checked, setup.checked.units.get(setup.entry)!, setup.settings, 1, setup.attach, setup.trainable);
          if (opts.json) io.out(JSON.stringify({ file, model: setup.entry, attached: setup.attach ? { adapter: setup.attach.adapter, settings: setup.attach.settings, targets: String(setup.attach.targets) } : undefined, ...c }, null, 2));
          else {
            io.out(`model ${c.unit}: ${c.trainable.toLocaleString('en-US')} trainable, ${c.frozen.toLocaleString('en-US')} frozen`);
            for (const p of c.params.filter((p) => p.trainable)) io.out(`  ${p.name.padEnd(28)} [${p.shape.join(', ')}]`.padEnd(46) + ` ${p.sharing.padEnd(22)} ${p.total}`);
          }
          return 0;
        }
        if (opts.targetModules) fail('E-usage', '--target-modules attaches an adapter to a model: name it with --model NAME');
        const checked = loadFile(file);
        const settings = parseSettings(opts.dims);
        const units = [...checked.units.values()].filter((u) => !opts.adapter || u.decl.name === opts.adapter);
        if (opts.adapter && !units.length) fail('E-name', `no adapter or model named '${opts.adapter}' in ${file}`);
        const layers = intFlag('--layers', opts.layers, 1);
        const counts = units.map((u) => countParams(checked, u, settings, layers));
        const total = counts.filter((c) => c.kind === 'adapter').reduce((a, c) => a + c.trainable, 0);
        if (opts.json) {
          io.out(JSON.stringify({ file, layers, units: counts, total }, null, 2));
          return 0;
        }
        for (const c of counts) {
          io.out(`${c.kind} ${c.unit}${c.kind === 'adapter' ? ` (L = ${c.layers})` : ''}: ${c.trainable.toLocaleString('en-US')} trainable${c.frozen ? `, ${c.frozen.toLocaleString('en-US')} frozen` : ''}`);
          for (const p of c.params)
            io.out(`  ${p.name.padEnd(10)} [${p.shape.join(', ')}]`.padEnd(34) + ` ${p.trainable ? 'trainable' : 'frozen   '}  ${p.sharing.padEnd(22)} ${p.perCopy} × ${p.copies} = ${p.total}`);
        }
        if (counts.length > 1) io.out(`total trainable (adapters): ${total.toLocaleString('en-US')}`);
        return 0;
      }),
    );
}

