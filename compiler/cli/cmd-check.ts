// lily check FILE…: parse and type-check; report every error with file:line:col.
import type { Command } from 'commander';
import { LilyError } from '../diagnostics.ts';
import { loadFile } from '../frontend.ts';
import { reportError, type Action, type Io, type Wrapped } from './main.ts';
import { diagnosticJson } from './conventions.ts';
import { expandFiles } from './options.ts';

export function registerCheck(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('check')
    .description('parse and type-check .lily files (directories and globs are expanded)')
    .argument('<files...>', '.lily files, directories or globs')
    .option('--json', 'print one JSON object: {ok, files: [{file, ok, declarations | diagnostics}]}')
    .action(
      wrap((files: string[], opts: { json?: boolean }) => {
        let failed = 0;
        const results: object[] = [];
        for (const file of expandFiles(files)) {
          try {
            const c = loadFile(file);
            const units = [...c.units.values()].map((u) => `${u.decl.kind} ${u.decl.name}`);
            const fns = [...c.fns.keys()].map((f) => `fn ${f}`);
            if (opts.json) results.push({ file, ok: true, declarations: [...units, ...fns] });
            else io.out(`${file}: ok (${[...units, ...fns].join(', ') || 'empty'})`);
          } catch (e) {
            if (!(e instanceof LilyError)) throw e;
            failed++;
            if (opts.json) results.push({ file, ok: false, diagnostics: e.diagnostics.map((d) => diagnosticJson(d, file)) });
            else reportError(e, io);
          }
        }
        // A failed check also carries the first error at the top, as every failing command's JSON does.
        const firstError = results.flatMap((r) => ('diagnostics' in r ? (r.diagnostics as object[]) : []))[0];
        if (opts.json) io.out(JSON.stringify({ ok: !failed, files: results, ...(firstError && { error: firstError }) }));
        return failed ? 1 : 0;
      }),
    );
}
