// Source files to checked programs (Node): frontend-source.ts does the work on text.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckedProgram } from './check/check.ts';
import { LilyError } from './diagnostics.ts';
import { checkSource, checkSources } from './frontend-source.ts';
import { parse } from './syntax/to-ast.ts';

export { checkSource, checkSources };

/**
 * Read, parse and type-check a `.lily` file with everything it imports, as one program.
 * @throws {LilyError} `E-file` when a file cannot be read, or the program's diagnostics
 */
export function loadFile(file: string): CheckedProgram {
  const sources = importClosure(file);
  return sources.length === 1 ? checkSource(sources[0].source, file) : checkSources(sources);
}

/** The standard library's folder: `import "adapters/lily.lily"` names a file in it. */
const STDLIB = fileURLToPath(new URL('../stdlib/', import.meta.url));

/**
 * A file and its imports, each once (a diamond or a cycle reads a file once), in the order met.
 * `./x.lily` and `../x.lily` are relative to the importing file; any other path is in the stdlib.
 */
export function importClosure(file: string): { file: string; source: string }[] {
  return sourceClosure(readSource(file));
}

/** A source (from a file, or embedded in a saved adapter) with everything it imports. */
export function sourceClosure(first: { file: string; source: string }): { file: string; source: string }[] {
  const out: { file: string; source: string }[] = [];
  const seen = new Set<string>();
  const visit = (src: { file: string; source: string }) => {
    seen.add(resolve(src.file));
    out.push(src);
    for (const i of parse(src.source, src.file).imports) {
      const f = /^\.\.?\//.test(i.path) ? join(dirname(src.file), i.path) : join(STDLIB, i.path);
      if (seen.has(resolve(f))) continue;
      let source: string;
      try {
        source = readFileSync(f, 'utf8');
      } catch (e) {
        throw new LilyError([{ code: 'E-file', message: `cannot import "${i.path}": ${f} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, span: i.span }]);
      }
      visit({ file: f, source });
    }
  };
  visit(first);
  return out;
}

/** Read a source file, or a located E-file error. */
export function readSource(file: string): { file: string; source: string } {
  try {
    return { file, source: readFileSync(file, 'utf8') };
  } catch (e) {
    throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
}
