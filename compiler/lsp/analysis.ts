// What the language server knows about a document, as plain functions over its text (browser-safe;
// server.ts speaks the protocol): the checker's diagnostics, the inferred type of the expression
// under the cursor, and where a name under the cursor is declared.
import { checkProgram, type CheckedProgram } from '../check/check.ts';
import { showTy } from '../check/types.ts';
import { LilyError, type Diagnostic } from '../diagnostics.ts';
import type * as A from '../syntax/ast.ts';
import { parse } from '../syntax/to-ast.ts';

export interface Analysis {
  diagnostics: Diagnostic[];
  checked?: CheckedProgram;
  source: string;
}

/** Parse and check; a parse error leaves `checked` undefined, type errors keep what was inferred. */
export function analyse(source: string, file: string): Analysis {
  try {
    const checked = checkProgram(parse(source, file));
    return { diagnostics: checked.diagnostics, checked, source };
  } catch (e) {
    if (e instanceof LilyError) return { diagnostics: e.diagnostics, source };
    throw e;
  }
}

/** Every AST node (an object with a `kind` or a `span`) below `node`, children after parents. */
function* nodes(node: unknown): Generator<Record<string, any>> {
  if (Array.isArray(node)) for (const n of node) yield* nodes(n);
  else if (node && typeof node === 'object' && !('start' in node && 'file' in node)) {
    const rec = node as Record<string, any>;
    if ('span' in rec) yield rec;
    for (const [k, v] of Object.entries(rec)) if (k !== 'span' && k !== 'nameSpan' && k !== 'opSpan' && v && typeof v === 'object') yield* nodes(v);
  }
}

const contains = (s: A.Span, offset: number) => s.start <= offset && offset <= s.end;

/** The identifier around `offset` in the text, with its bounds. */
export function wordAt(source: string, offset: number): { word: string; start: number; end: number } | undefined {
  const isId = (c: string | undefined) => !!c && /[A-Za-z0-9_]/.test(c);
  let start = offset;
  while (start > 0 && isId(source[start - 1])) start--;
  let end = offset;
  while (isId(source[end])) end++;
  return end > start && /^[A-Za-z_]/.test(source.slice(start)) ? { word: source.slice(start, end), start, end } : undefined;
}

/** Hover text: the inferred type of the innermost checked expression at `offset`. */
export function hoverAt(a: Analysis, offset: number): { text: string; span: A.Span } | undefined {
  if (!a.checked) return undefined;
  let best: { text: string; span: A.Span } | undefined;
  for (const n of nodes(a.checked.program.decls)) {
    if (!contains(n.span, offset)) continue;
    if (best && n.span.end - n.span.start > best.span.end - best.span.start) continue;
    const info = a.checked.info.get(n as A.Expr);
    if (info) best = { text: `${n.kind === 'var' ? `${n.name}: ` : ''}${showTy(info.ty)}`, span: n.span };
    else if (n.kind === 'param' && a.checked) {
      // A parameter declaration: its shape as declared (hover on `param A: [In, r]`).
      const p = [...a.checked.units.values()].flatMap((u) => u.params).find((q) => q.decl === n);
      if (p) best = { text: `param ${n.name}: ${a.source.slice(n.type.span.start, n.type.span.end)}`, span: n.span };
    }
  }
  return best;
}

interface Definition {
  name: string;
  /** where the name is written in the declaration */
  at: { start: number; end: number };
  /** where the name is visible */
  scope: { start: number; end: number };
}

// Declarations carry the span of their name; a name is visible from its declaration to the start
// of the next declaration at the same level (or the end of the enclosing one).
function definitions(a: Analysis): Definition[] {
  const decls = a.checked!.program.decls;
  const defs: Definition[] = [];
  const whole = { start: 0, end: a.source.length };
  decls.forEach((d, i) => {
    defs.push({ name: d.name, at: d.span, scope: whole });
    const scope = { start: d.span.start, end: decls[i + 1]?.span.start ?? a.source.length };
    if (d.kind === 'fn') for (const p of d.params) defs.push({ name: p.name, at: p.span, scope });
    else {
      for (const h of d.hypers) defs.push({ name: h.name, at: h.span, scope });
      d.members.forEach((m, j) => {
        defs.push({ name: m.name, at: m.span, scope });
        const own = { start: m.span.start, end: d.members[j + 1]?.span.start ?? scope.end };
        if (m.kind === 'method') for (const p of m.params) defs.push({ name: p.name, at: p.span, scope: own });
      });
    }
    for (const n of nodes(d)) if (n.kind === 'let' && n.nameSpan) defs.push({ name: n.name, at: n.nameSpan, scope: n.span });
  });
  return defs;
}

/** Where the name under `offset` is declared (the innermost declaration in scope), if anywhere. */
export function definitionAt(a: Analysis, offset: number): { start: number; end: number } | undefined {
  if (!a.checked) return undefined;
  const w = wordAt(a.source, offset);
  if (!w) return undefined;
  const candidates = definitions(a).filter((d) => d.name === w.word && d.scope.start <= w.start && w.start <= d.scope.end);
  candidates.sort((x, y) => x.scope.end - x.scope.start - (y.scope.end - y.scope.start));
  return candidates[0]?.at;
}
