// Source text to a checked program: the first two named stages (parse, check) as one call.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkProgram, type CheckedProgram } from './check/check.ts';
import { LilyError, type Diagnostic } from './diagnostics.ts';
import { parse } from './syntax/to-ast.ts';

/** One source with no imports (imports need files: loadFile resolves them). */
export function checkSource(source: string, file = '<input>'): CheckedProgram {
  const program = parse(source, file);
  if (program.imports.length)
    throw new LilyError(program.imports.map((i) => ({ code: 'E-file', message: `import "${i.path}" needs files: load the program from its file (lily check FILE)`, span: i.span })));
  const checked = checkProgram(program);
  if (checked.diagnostics.length) throw new LilyError(checked.diagnostics);
  return checked;
}

/** A file and everything it imports, checked as one program. */
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

/**
 * Several sources checked as one program (a model and an adapter from another file). A declaration
 * repeated with the same text is taken once; the same name declared differently is an error naming
 * both places.
 */
export function checkSources(sources: { file: string; source: string }[]): CheckedProgram {
  const programs = sources.map((s) => parse(s.source, s.file));
  const first = programs[0];
  const decls = new Map<string, { decl: (typeof first.decls)[number]; text: string }>();
  const clashes: Diagnostic[] = [];
  programs.forEach((p, i) => {
    for (const d of p.decls) {
      const text = sources[i].source.slice(d.whole.start, d.whole.end);
      const prev = decls.get(d.name);
      if (!prev) decls.set(d.name, { decl: d, text });
      else if (prev.text.replace(/\s+/g, ' ') !== text.replace(/\s+/g, ' '))
        clashes.push({ code: 'E-name', message: `'${d.name}' is declared differently in ${prev.decl.span.file}:${prev.decl.span.line} and here; rename one`, span: d.span });
    }
  });
  if (clashes.length) throw new LilyError(clashes);
  const checked = checkProgram({ ...first, decls: [...decls.values()].map((d) => d.decl) });
  if (checked.diagnostics.length) throw new LilyError(checked.diagnostics);
  return checked;
}

/** Read a source file, or a located E-file error. */
export function readSource(file: string): { file: string; source: string } {
  try {
    return { file, source: readFileSync(file, 'utf8') };
  } catch (e) {
    throw new LilyError([{ code: 'E-file', message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
}
