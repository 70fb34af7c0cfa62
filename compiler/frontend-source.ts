// Source text to a checked program: the first two named stages (parse, check) as one call.
// Browser-safe; frontend.ts adds reading from a file (Node).
import { checkProgram, type CheckedProgram } from './check/check.ts';
import { LilyError, type Diagnostic } from './diagnostics.ts';
import { parse } from './syntax/to-ast.ts';
import type { Program } from './syntax/ast.ts';

/**
 * Parse and type-check Lily source text.
 * @param source the program text
 * @param file the name used in diagnostics (`file:line:col`)
 * @param parsed the source's parse, where the caller has it already (loadFile parses to find imports)
 * @returns the checked program: its adapters, models and functions with inferred shapes
 * @throws {LilyError} with every diagnostic (each with a span) when the program is malformed
 */
export function checkSource(source: string, file = '<input>', parsed?: Program): CheckedProgram {
  // A UTF-8 byte-order mark (some Windows editors write one) is not part of the program.
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
  const program = parsed ?? parse(source, file);
  // Imports name files: loadFile (frontend.ts, Node) resolves them.
  if (program.imports.length)
    throw new LilyError(program.imports.map((i) => ({ code: 'E-file', message: `import "${i.path}" needs files: load the program from its file (lily check FILE)`, span: i.span })));
  const checked = checkProgram(program);
  if (checked.diagnostics.length) throw new LilyError(checked.diagnostics);
  return checked;
}

/**
 * Several sources checked as one program (a model and an adapter from another file). A declaration
 * repeated with the same text is taken once; the same name declared differently is an error naming
 * both places.
 */
export function checkSources(sources: { file: string; source: string; program?: Program }[]): CheckedProgram {
  const programs = sources.map((s) => s.program ?? parse(s.source, s.file));
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
