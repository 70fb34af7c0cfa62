// Bounded resources: a memory budget, and the memory a command would need estimated from the
// program's plan (its IR at the given sizes, lowered with shape-only leaves, so estimating
// allocates nothing). A command that would need more is refused up front, naming the size —
// never an out-of-memory crash half way. The budget is `--max-memory`, else LILY_MAX_MEMORY,
// else half of this machine's memory (the CLI sets it; the compiler core has no `node:` imports).
import type { CheckedProgram } from './check/check.ts';
import { fail, LilyError } from './diagnostics.ts';
import { lower } from './ir/lower.ts';

let budget = Number.POSITIVE_INFINITY;

/** Lowering options that change what is instantiated (adapters attached to a model's layers). */
type LowerExtra = Pick<Parameters<typeof lower>[2], 'attach' | 'inputs'>;

export function setMemoryBudget(bytes: number): void {
  budget = bytes;
}

export function memoryBudget(): number {
  return budget;
}

const UNITS: Record<string, number> = { '': 1, B: 1, K: 2 ** 10, KB: 2 ** 10, KIB: 2 ** 10, M: 2 ** 20, MB: 2 ** 20, MIB: 2 ** 20, G: 2 ** 30, GB: 2 ** 30, GIB: 2 ** 30, T: 2 ** 40, TB: 2 ** 40, TIB: 2 ** 40 };

/** `512MB`, `4G`, `1.5GiB`, `1000000` (bytes); undefined when it is not a size. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = UNITS[m[2].toUpperCase()];
  const v = Number(m[1]) * (unit ?? NaN);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return 'unbounded';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toPrecision(3)} ${units[i]}`;
}

/**
 * Bytes the float64 reference interpreter needs to evaluate `entry` at these sizes: every value of
 * its forward program (parameters, input, each intermediate), 8 bytes an element — an upper bound,
 * as the interpreter may free intermediates early. `factor` scales it for work that keeps more
 * (training: gradients and two optimiser moments per value).
 */
export function estimateBytes(checked: CheckedProgram, entry: string, settings: Record<string, number | boolean>, extra: LowerExtra = {}): number {
  const { graph, leaves } = lower(checked, entry, { ...extra, settings, params: 'shapes' });
  const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  // Every tensor instantiated (a frozen base the delta never reads is still drawn), then every
  // intermediate of the program.
  let elements = 0;
  for (const t of leaves.values()) elements += numel(t.shape);
  for (const id of graph.live()) if (!['param', 'input'].includes(graph.node(id).op)) elements += numel(graph.shape(id));
  return elements * 8;
}

/**
 * The float64 interpreter's matmul materialises its operands at the broadcast batch shape (a copy
 * of a weight matrix, measured: `run` on a 784×100000 layer peaked at twice its weights).
 */
export const INTERPRETER_FACTOR = 2;

/** Refuse (E-memory, exit 1) work whose estimate is over the budget. */
export function requireMemory(what: string, bytes: number): void {
  if (bytes > budget)
    fail('E-memory', `${what} needs about ${formatBytes(bytes)}, more than the memory budget of ${formatBytes(budget)}`, undefined, {
      notes: ['use smaller sizes (--dims), or raise the budget with --max-memory (e.g. --max-memory 16GB) if this machine has the memory'],
    });
}

/** Estimate from the plan and refuse over budget, in one call. */
export function guardMemory(what: string, checked: CheckedProgram, entry: string, settings: Record<string, number | boolean>, factor = 1, extra: LowerExtra = {}): void {
  if (budget === Number.POSITIVE_INFINITY) return;
  requireMemory(what, factor * estimateBytes(checked, entry, settings, extra));
}

/**
 * The same where the program's inputs may not have sizes yet (instantiating a model's weights
 * before its input shape is known): an estimate that cannot be made is skipped, not an error.
 */
export function guardWeights(what: string, checked: CheckedProgram, entry: string, settings: Record<string, number | boolean>, extra: LowerExtra = {}): void {
  if (budget === Number.POSITIVE_INFINITY) return;
  let bytes: number;
  try {
    bytes = estimateBytes(checked, entry, settings, extra);
  } catch (e) {
    if (e instanceof LilyError) return;
    throw e;
  }
  requireMemory(what, bytes);
}
