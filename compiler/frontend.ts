// Source text to a checked program: the first two named stages (parse, check) as one call.
import { readFileSync } from 'node:fs';
import { checkProgram, type CheckedProgram } from './check/check.ts';
import { LilyError } from './diagnostics.ts';
import { parse } from './syntax/to-ast.ts';

export function checkSource(source: string, file = '<input>'): CheckedProgram {
  const checked = checkProgram(parse(source, file));
  if (checked.diagnostics.length) throw new LilyError(checked.diagnostics);
  return checked;
}

export function loadFile(file: string): CheckedProgram {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  return checkSource(source, file);
}
