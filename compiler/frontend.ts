// Source files to checked programs (Node): frontend-source.ts does the work on text.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { packagePath } from '../runtime/package-path.ts';
import type { CheckedProgram } from './check/check.ts';
import { LilyError } from './diagnostics.ts';
import { checkSource, checkSources } from './frontend-source.ts';
import { parse } from './syntax/to-ast.ts';
import type { Program } from './syntax/ast.ts';

export { checkSource, checkSources };

/** Source files larger than this are refused before reading (a program is a few KB). */
export const MAX_SOURCE_BYTES = 4 * 1024 * 1024;

/**
 * Read, parse and type-check a `.lily` file with everything it imports, as one program.
 * @throws {LilyError} `E-file` when a file cannot be read, or the program's diagnostics
 */
export function loadFile(file: string): CheckedProgram {
  // each file parsed once: the closure's parses (made to find imports) are the ones checked
  const sources = parsedClosure(readSource(file));
  return sources.length === 1 ? checkSource(sources[0].source, file, sources[0].program) : checkSources(sources);
}

/** The standard library's folder: `import "adapters/lily.lily"` names a file in it. */
const stdlibDir = () => packagePath('stdlib', import.meta.url);

/**
 * A file and its imports, each once (a diamond or a cycle reads a file once), in the order met.
 * `./x.lily` and `../x.lily` are relative to the importing file; any other path is in the stdlib.
 */
export function importClosure(file: string): { file: string; source: string }[] {
  return sourceClosure(readSource(file));
}

/** A source (from a file, or embedded in a saved adapter) with everything it imports. */
export function sourceClosure(first: { file: string; source: string }): { file: string; source: string }[] {
  return parsedClosure(first).map(({ file, source }) => ({ file, source }));
}

/** sourceClosure with each source's parse. */
function parsedClosure(first: { file: string; source: string }): { file: string; source: string; program: Program }[] {
  const out: { file: string; source: string; program: Program }[] = [];
  const seen = new Set<string>();
  const visit = (src: { file: string; source: string }) => {
    seen.add(resolve(src.file));
    const program = parse(src.source, src.file);
    out.push({ ...src, program });
    for (const i of program.imports) {
      const f = /^\.\.?\//.test(i.path) ? join(dirname(src.file), i.path) : join(stdlibDir(), i.path);
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
  return { file, source: readSourceText(file) };
}

/**
 * A source file's text: a regular file or a pipe (not /dev/zero or a socket), at most
 * MAX_SOURCE_BYTES, without a UTF-8 byte-order mark (some Windows editors write one).
 */
export function readSourceText(file: string): string {
  let source: string;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: it is a directory` }]);
    if (st.isFIFO()) source = readBounded(file); // `lily check /dev/stdin < prog.lily`: read up to the limit
    else if (!st.isFile()) throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: not a regular file or a pipe (a device or socket)` }]);
    else if (st.size > MAX_SOURCE_BYTES)
      throw new LilyError([{ code: 'E-limit', message: `${file} is ${(st.size / 1048576).toFixed(1)} MiB: source files are limited to ${MAX_SOURCE_BYTES / 1048576} MiB` }]);
    else source = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof LilyError) throw e;
    throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  return source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
}

/** Read a pipe, refusing more than MAX_SOURCE_BYTES instead of reading forever. */
function readBounded(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(MAX_SOURCE_BYTES + 1);
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += got;
    if (n > MAX_SOURCE_BYTES) throw new LilyError([{ code: 'E-limit', message: `${file}: more than ${MAX_SOURCE_BYTES / 1048576} MiB of input: source files are limited to that` }]);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}
