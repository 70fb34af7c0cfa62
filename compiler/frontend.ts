// Source text to a checked program: the first two named stages (parse, check) as one call.
import { readFileSync } from 'node:fs';
import { checkProgram, type CheckedProgram } from './check/check.ts';
import { LilyError, type Diagnostic } from './diagnostics.ts';
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
      const text = sources[i].source.slice(d.span.start, d.span.end);
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
