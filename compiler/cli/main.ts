// The `lily` command. Every command returns an exit code; user errors print diagnostics (never a
// stack trace) and return 1. Set LILY_DEBUG=1 to see the stack of an internal error.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { formatDiagnostic, LilyError } from '../diagnostics.ts';
import { registerCheck } from './cmd-check.ts';
import { registerParams } from './cmd-params.ts';
import { registerRun } from './cmd-run.ts';
import { registerCompile } from './cmd-compile.ts';
import { registerMerge } from './cmd-merge.ts';
import { registerVerify } from './cmd-verify.ts';
import { registerTrain } from './cmd-train.ts';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Io = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };

/** Print a LilyError's diagnostics with source excerpts. */
export function reportError(e: LilyError, io: Io): void {
  const sources = new Map<string, string>();
  for (const d of e.diagnostics)
    if (d.span && !sources.has(d.span.file)) {
      try {
        sources.set(d.span.file, readFileSync(d.span.file, 'utf8').replace(/^\uFEFF/, '')); // as checkSource read it
      } catch {
        /* source not on disk (e.g. a string); print without excerpt */
      }
    }
  io.err(e.diagnostics.map((d) => formatDiagnostic(d, sources)).join('\n\n'));
  const n = e.diagnostics.length;
  if (n > 1) io.err(`\n${n} errors`);
}

export type Action = (...args: any[]) => number | Promise<number>;
export type Wrapped = (...args: any[]) => Promise<void>;

export function buildProgram(io: Io, setCode: (c: number) => void): Command {
  const program = new Command('lily')
    .description('Lily: a typed tensor language for parameter-efficient fine-tuning adapters')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError('(run `lily --help` for usage)');
  const wrap =
    (fn: Action) =>
    async (...args: unknown[]): Promise<void> => {
      setCode(await fn(...args));
    };
  registerCheck(program, io, wrap);
  registerRun(program, io, wrap);
  registerParams(program, io, wrap);
  registerCompile(program, io, wrap);
  registerVerify(program, io, wrap);
  registerMerge(program, io, wrap);
  registerTrain(program, io, wrap);
  return program;
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof LilyError) {
      reportError(e, io);
      return 1;
    }
    const err = e as Error;
    io.err(`lily: internal error: ${err.message}`);
    if (process.env.LILY_DEBUG) io.err(err.stack ?? '');
    else io.err('(this is a bug in lily; rerun with LILY_DEBUG=1 for details)');
    return 3;
  }
}
