// Source text to a checked program: the first two named stages (parse, check) as one call.
// Browser-safe; frontend.ts adds reading from a file (Node).
import { checkProgram, type CheckedProgram } from './check/check.ts';
import { LilyError } from './diagnostics.ts';
import { parse } from './syntax/to-ast.ts';

/**
 * Parse and type-check Lily source text.
 * @param source the program text
 * @param file the name used in diagnostics (`file:line:col`)
 * @returns the checked program: its adapters, models and functions with inferred shapes
 * @throws {LilyError} with every diagnostic (each with a span) when the program is malformed
 */
export function checkSource(source: string, file = '<input>'): CheckedProgram {
  const checked = checkProgram(parse(source, file));
  if (checked.diagnostics.length) throw new LilyError(checked.diagnostics);
  return checked;
}
