// Source text to a checked program: the first two named stages (parse, check) as one call.
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { checkProgram, type CheckedProgram } from './check/check.ts';
import { LilyError } from './diagnostics.ts';
import { parse } from './syntax/to-ast.ts';

/** Source files larger than this are refused before reading (a program is a few KB). */
export const MAX_SOURCE_BYTES = 4 * 1024 * 1024;

export function checkSource(source: string, file = '<input>'): CheckedProgram {
  // A UTF-8 byte-order mark (some Windows editors write one) is not part of the program.
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
  const checked = checkProgram(parse(source, file));
  if (checked.diagnostics.length) throw new LilyError(checked.diagnostics);
  return checked;
}

export function loadFile(file: string): CheckedProgram {
  return checkSource(readSource(file), file);
}

/** A source file's text: only a regular file (not /dev/zero or a pipe), at most MAX_SOURCE_BYTES. */
export function readSource(file: string): string {
  let source: string;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: it is a directory` }]);
    if (st.isFIFO()) return readBounded(file); // `lily check /dev/stdin < prog.lily`, a pipe: read up to the limit
    if (!st.isFile()) throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: not a regular file or a pipe (a device or socket)` }]);
    if (st.size > MAX_SOURCE_BYTES)
      throw new LilyError([{ code: 'E-limit', message: `${file} is ${(st.size / 1048576).toFixed(1)} MiB: source files are limited to ${MAX_SOURCE_BYTES / 1048576} MiB` }]);
    source = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof LilyError) throw e;
    throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  return source;
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
