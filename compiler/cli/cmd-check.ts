// lily check FILE…: parse and type-check; report every error with file:line:col.
import type { Command } from 'commander';
import { LilyError } from '../diagnostics.ts';
import { loadFile } from '../frontend.ts';
import { reportError, type Action, type Io, type Wrapped } from './main.ts';
import { expandFiles } from './options.ts';

export function registerCheck(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('check')
    .description('parse and type-check .lily files (directories and globs are expanded)')
    .argument('<files...>', '.lily files, directories or globs')
    .option('--json', 'print one JSON object per file')
    .action(
      wrap((files: string[], opts: { json?: boolean }) => {
        let failed = 0;
        for (const file of expandFiles(files)) {
          try {
            const c = loadFile(file);
            const units = [...c.units.values()].map((u) => `${u.decl.kind} ${u.decl.name}`);
            const fns = [...c.fns.keys()].map((f) => `fn ${f}`);
            if (opts.json) io.out(JSON.stringify({ file, ok: true, declarations: [...units, ...fns] }));
            else io.out(`${file}: ok (${[...units, ...fns].join(', ') || 'empty'})`);
          } catch (e) {
            if (!(e instanceof LilyError)) throw e;
            failed++;
            if (opts.json) io.out(JSON.stringify({ file, ok: false, diagnostics: e.diagnostics }));
            else reportError(e, io);
          }
        }
        return failed ? 1 : 0;
      }),
    );
}
