// The CLI's conventions in one place: exit codes, the `--json` error object, and each command's
// examples for `--help`. Commands only return a code or throw a LilyError; main.ts applies these.
import { CommanderError } from 'commander';
import { LilyError, type Diagnostic } from '../diagnostics.ts';

/** Exit codes, as `lily --help` and the README list them. */
// A LilyError is the user's (exit 1, bad option values included); 2 is for what commander rejects
// before a command runs (an unknown command or option, a missing argument).
export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 3 } as const;

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  a user error (bad program, bad file, bad option value, diverged training) or a failed check
     (check, verify, merge)
  2  usage: unknown command or option, missing argument
  3  internal error: a bug in lily (rerun with LILY_DEBUG=1 for the stack)

With --json every command prints exactly one JSON object on stdout, errors included:
  {"error": {"code", "message", "file", "line", "col", ...}}; a failed check prints its result with "ok": false`;

/** The error object printed under `--json` (line and col are 1-based; null where unknown). */
export interface JsonError {
  code: string;
  message: string;
  file: string | null;
  line: number | null;
  col: number | null;
  expected?: string;
  found?: string;
  notes?: string[];
  /** every diagnostic, when there is more than one */
  diagnostics?: JsonError[];
}

export function diagnosticJson(d: Diagnostic, file?: string): JsonError {
  return {
    code: d.code,
    message: d.message,
    file: d.span?.file ?? file ?? null,
    line: d.span?.line ?? null,
    col: d.span?.col ?? null,
    ...(d.expected !== undefined && { expected: d.expected }),
    ...(d.found !== undefined && { found: d.found }),
    ...(d.notes?.length && { notes: d.notes }),
  };
}

/** One error object for anything a command can throw; `file` is the command's file argument, if any. */
export function errorJson(e: unknown, file?: string): { error: JsonError } {
  if (e instanceof LilyError) {
    const all = e.diagnostics.map((d) => diagnosticJson(d, file));
    return { error: all.length > 1 ? { ...all[0], diagnostics: all } : all[0] };
  }
  if (e instanceof CommanderError) return { error: { code: 'E-usage', message: e.message.replace(/^error: /, ''), file: null, line: null, col: null } };
  return { error: { code: 'E-internal', message: `internal error: ${(e as Error)?.message ?? String(e)}`, file: file ?? null, line: null, col: null } };
}

/** Examples shown at the end of each command's `--help`. */
export const EXAMPLES: Record<string, string[]> = {
  check: ['lily check stdlib', 'lily check my-adapter.lily --json'],
  run: ["lily run stdlib/adapters/lora.lily --fn LoRA --dims N=2,In=3,Out=3,r=1 --params random", "lily run f.lily --fn f --inputs 'x=[[1,2],[3,4]]' --json"],
  params: ['lily params stdlib/adapters/lily.lily --adapter Lily --dims In=768,Out=768,r=16,E=4 --layers 12'],
  compile: ['lily compile stdlib/adapters/lily.lily --adapter Lily --dims N=1024,In=768,Out=768,r=16,E=4 --explain', 'lily compile stdlib/adapters/lora.lily --adapter LoRA --dims N=2,In=3,Out=3,r=1 --dump-after contract'],
  verify: ['lily verify stdlib/adapters/lily.lily', 'lily verify stdlib/adapters/lily.lily --adapter LilyToken --inject-fault unsound-expert-fold'],
  merge: ['lily merge stdlib/adapters/lora.lily --adapter LoRA --dims In=8,Out=8,r=2 --params random --json'],
  train: ['lily train stdlib/adapters/lily.lily --adapter Lily --steps 200 --save lily-adapter', 'lily train examples/fashion.lily --adapter Base --data fashion-mnist --steps 300 --lr 0.003', 'lily train examples/iris.lily --model Iris --data examples/data/iris.csv --val-split 0.2 --epochs 40 --batch 16 --plot loss.svg --log run.jsonl'],
  eval: ['lily eval examples/fashion.lily --model Base --data fashion-mnist --json'],
  compare: ['lily compare stdlib/models/vit.lily --model ViT --base examples/models/vit.safetensors --task digits-1k,rotation-1k --methods lora,lily,moslora,linear-probe,full --budget 4800 --seeds 2', 'lily compare stdlib/models/vit.lily --model ViT --base examples/models/vit.safetensors --methods lora,my.lily:MyAdapter --budget 4800 --lr-sweep 1e-3,3e-3,1e-2'],
  export: ['lily export stdlib/adapters/lily.lily --adapter Lily --dims r=4,E=4 -o lily_adapter.py --check', 'lily export examples/fashion.lily --model Base -o base_model.py', 'lily export stdlib/adapters/lora.lily --adapter LoRA --to onnx -o lora.onnx --check'],
  plot: ['lily plot run.jsonl -o loss.svg   # a log written by lily train --log run.jsonl'],
  lsp: ['lily lsp --stdio   # started by an editor (editors/vscode/)'],
  completion: ['lily completion bash >> ~/.bashrc', 'lily completion zsh > "${fpath[1]}/_lily"'],
};

export function examplesHelp(name: string): string {
  const ex = EXAMPLES[name];
  return ex ? `\nExamples:\n${ex.map((e) => `  $ ${e}`).join('\n')}` : '';
}
