// What the editor shows while you type: the checker's diagnostics as editor ranges, the inferred
// type of the expression under the pointer, the program's adapters and models. Runs the project's
// own parser and checker; no DOM, so it is tested in Node (analysis.test.ts).
import { checkProgram, type CheckedProgram } from '../../compiler/check/check.ts';
import { showTy } from '../../compiler/check/types.ts';
import { LilyError, type Diagnostic } from '../../compiler/diagnostics.ts';
import type { Span } from '../../compiler/syntax/ast.ts';
import { parse } from '../../compiler/syntax/to-ast.ts';

export interface EditorDiagnostic {
  from: number;
  to: number;
  line: number;
  col: number;
  code: string;
  /** The message with expected/found and notes, as the CLI prints them after the position. */
  message: string;
}

export interface Analysis {
  /** The checked program when there are no errors. */
  checked?: CheckedProgram;
  /** The program as far as the checker got (for hover), even with errors. */
  partial?: CheckedProgram;
  diagnostics: EditorDiagnostic[];
  units: { name: string; kind: 'adapter' | 'model' }[];
}

export function analyze(source: string, file = 'playground.lily'): Analysis {
  let partial: CheckedProgram;
  try {
    partial = checkProgram(parse(source, file));
  } catch (e) {
    if (e instanceof LilyError) return { diagnostics: e.diagnostics.map((d) => toEditor(d, source)), units: [] };
    throw e;
  }
  const units = [...partial.units.values()].map((u) => ({ name: u.decl.name, kind: u.decl.kind }));
  const diagnostics = partial.diagnostics.map((d) => toEditor(d, source));
  return { checked: diagnostics.length ? undefined : partial, partial, diagnostics, units };
}

function toEditor(d: Diagnostic, source: string): EditorDiagnostic {
  const span: Span = d.span ?? { file: '', start: 0, end: 0, line: 1, col: 1 };
  const from = Math.min(span.start, source.length);
  // An empty span (e.g. a parse error at the end) still gets one character to underline.
  const to = Math.min(Math.max(span.end, from + 1), source.length);
  const extra = [d.expected ? `expected: ${d.expected}` : '', d.found ? `found: ${d.found}` : '', ...(d.notes ?? [])].filter(Boolean);
  return { from, to: Math.max(to, from), line: span.line, col: span.col, code: d.code, message: [d.message, ...extra].join('\n') };
}

/** The inferred type of the innermost checked expression at `offset`, with its span. */
export function typeAt(checked: CheckedProgram, offset: number): { from: number; to: number; type: string } | undefined {
  let best: { from: number; to: number; type: string } | undefined;
  const seen = new Set<object>();
  const walk = (node: unknown) => {
    if (!node || typeof node !== 'object' || seen.has(node)) return;
    seen.add(node);
    if (Array.isArray(node)) return node.forEach(walk);
    const span = (node as { span?: Span }).span;
    const info = checked.info.get(node as never);
    // (declarations' spans need not cover their bodies, so the whole tree is walked)
    if (span && info && span.start <= offset && offset <= span.end && (!best || span.end - span.start <= best.to - best.from)) best = { from: span.start, to: span.end, type: showTy(info.ty) };
    for (const [k, v] of Object.entries(node)) if (k !== 'span') walk(v);
  };
  walk(checked.program);
  return best;
}

/** `N=1024,In=768,r=16,rslora=true` → settings; a bad part gives a message instead. */
export function parseDims(text: string): { dims: Record<string, number | boolean> } | { error: string } {
  const dims: Record<string, number | boolean> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)$/.exec(part);
    if (!m) return { error: `expected NAME=VALUE, found '${part}'` };
    if (m[2] === 'true' || m[2] === 'false') dims[m[1]] = m[2] === 'true';
    else if (Number.isFinite(Number(m[2]))) dims[m[1]] = Number(m[2]);
    else return { error: `the value of ${m[1]} must be a number or true/false, found '${m[2]}'` };
  }
  return { dims };
}
