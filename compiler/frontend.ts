// Source files to checked programs (Node): frontend-source.ts does the work on text.
import { readFileSync } from 'node:fs';
import type { CheckedProgram } from './check/check.ts';
import { LilyError } from './diagnostics.ts';
import { checkSource, checkSources } from './frontend-source.ts';

export { checkSource, checkSources };

/**
 * Read, parse and type-check a `.lily` file.
 * @throws {LilyError} `E-file` when the file cannot be read, or the program's diagnostics
 */
export function loadFile(file: string): CheckedProgram {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  return checkSource(source, file);
}

/** Read a source file, or a located E-file error. */
export function readSource(file: string): { file: string; source: string } {
  try {
    return { file, source: readFileSync(file, 'utf8') };
  } catch (e) {
    throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
}
