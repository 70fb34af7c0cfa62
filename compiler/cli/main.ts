// The `lily` command. Every command returns an exit code; user errors print diagnostics (never a
// stack trace). Conventions (exit codes, `--json` objects, examples in --help) live in
// conventions.ts and are applied here, so each cmd-*.ts only parses options and does its work.
// Commands load lazily: `lily check` never loads the training runtime. Set LILY_DEBUG=1 to see the
// stack of an internal error.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { formatDiagnostic, LilyError } from '../diagnostics.ts';
import { EXIT, EXIT_CODES_HELP, errorJson, examplesHelp } from './conventions.ts';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** The package version (a test keeps it equal to package.json's). */
export const VERSION = '0.1.0';

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
type Register = (program: Command, io: Io, wrap: (fn: Action) => Wrapped) => void;

/** Each command's module, imported only when the command is used (or for the full --help). */
const COMMANDS: Record<string, () => Promise<Register>> = {
  check: async () => (await import('./cmd-check.ts')).registerCheck,
  run: async () => (await import('./cmd-run.ts')).registerRun,
  params: async () => (await import('./cmd-params.ts')).registerParams,
  compile: async () => (await import('./cmd-compile.ts')).registerCompile,
  verify: async () => (await import('./cmd-verify.ts')).registerVerify,
  merge: async () => (await import('./cmd-merge.ts')).registerMerge,
  train: async () => (await import('./cmd-train.ts')).registerTrain,
  eval: async () => (await import('./cmd-eval.ts')).registerEval,
  compare: async () => (await import('./cmd-compare.ts')).registerCompare,
  export: async () => (await import('./cmd-export.ts')).registerExport,
  plot: async () => (await import('./cmd-plot.ts')).registerPlot,
  completion: async () => (await import('./cmd-completion.ts')).registerCompletion,
  lsp: async () => (await import('./cmd-lsp.ts')).registerLsp,
};
export const COMMAND_NAMES = Object.keys(COMMANDS);

/** The commands argv needs: the one it names, none for --version, every one otherwise (help, errors). */
function commandsFor(argv: string[]): string[] {
  const first = argv.find((a) => !a.startsWith('-'));
  if (first && COMMANDS[first]) return [first];
  if (!first && argv.length > 0 && argv.every((a) => a === '-V' || a === '--version')) return [];
  return COMMAND_NAMES;
}

export async function buildProgram(io: Io, setCode: (c: number) => void, names: string[] = COMMAND_NAMES): Promise<Command> {
  const program = new Command('lily')
    .description('Lily: a typed tensor language for parameter-efficient fine-tuning adapters')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError('(run `lily --help` for usage)')
    .addHelpText('after', `\n${EXIT_CODES_HELP}`);
  const wrap =
    (fn: Action) =>
    async (...args: unknown[]): Promise<void> => {
      setCode(await fn(...args));
    };
  for (const name of names) (await COMMANDS[name]())(program, io, wrap);
  for (const cmd of program.commands) cmd.addHelpText('after', examplesHelp(cmd.name()));
  return program;
}

/** Under --json, stdout must be exactly one JSON object: collect it, check it, print it once. */
function jsonOut(io: Io) {
  const lines: string[] = [];
  return {
    io: { out: (t: string) => lines.push(t), err: io.err } satisfies Io,
    text: () => lines.join('\n'),
    isOneObject() {
      try {
        const v = JSON.parse(lines.join('\n'));
        return v !== null && typeof v === 'object' && !Array.isArray(v);
      } catch {
        return false;
      }
    },
  };
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const json = argv.includes('--json');
  const buffered = json ? jsonOut(io) : undefined;
  const cmdIo = buffered?.io ?? io;
  // The file a command works on, for errors that have no source position (e.g. a file not found).
  const fileArg = argv.find((a, i) => i > 0 && !a.startsWith('-') && !argv[i - 1].startsWith('--') && /\.(lily|safetensors)$/.test(a));
  const fail = (e: unknown, code: number): number => {
    if (buffered) io.out(JSON.stringify(errorJson(e, fileArg)));
    return code;
  };
  let code = 0;
  try {
    const program = await buildProgram(cmdIo, (c) => (code = c), commandsFor(argv));
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here with exit code 0: print what commander wrote.
      if (e.exitCode === 0) {
        if (buffered) io.out(buffered.text());
        return EXIT.ok;
      }
      return fail(e, EXIT.usage);
    }
    if (e instanceof LilyError) {
      reportError(e, io);
      return fail(e, EXIT.failed);
    }
    const err = e as Error;
    io.err(`lily: internal error: ${err?.message ?? String(e)}`);
    if (process.env.LILY_DEBUG) io.err(err?.stack ?? '');
    else io.err('(this is a bug in lily; rerun with LILY_DEBUG=1 for details)');
    return fail(e, EXIT.internal);
  }
  if (buffered) {
    if (code === 130 && !buffered.text()) return fail(new LilyError([{ code: 'E-interrupted', message: 'interrupted (Ctrl-C)' }]), code);
    if (!buffered.isOneObject()) {
      io.err('lily: internal error: this command did not print exactly one JSON object under --json');
      return fail(new Error(`--json output of '${argv.find((a) => !a.startsWith('-'))}' is not one JSON object`), EXIT.internal);
    }
    io.out(buffered.text());
  }
  return code;
}
