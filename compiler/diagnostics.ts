// Diagnostics: every error a user can see names file:line:col, shows the line with a caret, and
// says what was expected and what was found. Compiler stages throw LilyError (never a bare Error)
// for problems in the user's program; the CLI prints them and exits 1.
import type { Span } from './syntax/ast.ts';

export interface Diagnostic {
  code: string; // stable identifier, catalogued in spec/reference.md ("E-shape", "E-parse", ...)
  message: string;
  span?: Span;
  expected?: string;
  found?: string;
  notes?: string[];
}

export class LilyError extends Error {
  constructor(public readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join('\n'));
    this.name = 'LilyError';
  }
}

export function fail(code: string, message: string, span?: Span, extra: Partial<Diagnostic> = {}): never {
  throw new LilyError([{ code, message, span, ...extra }]);
}

/** Offsets where each line starts: built once per source, so a position costs a binary search. */
export class LineIndex {
  private readonly starts: number[] = [0];
  constructor(readonly source: string) {
    for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }
  /** 1-based line and column of an offset (clamped to the source). */
  lineCol(offset: number): { line: number; col: number } {
    const at = Math.max(0, Math.min(offset, this.source.length));
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= at) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.starts[lo] + 1 };
  }
}

// The parser makes a span for every node of one source: keep the index of the last source seen
// (positions by binary search over its line starts, not by rescanning the text: linear, not quadratic).
let lastIndex: LineIndex | undefined;
const indexOf = (source: string) => (lastIndex?.source === source ? lastIndex : (lastIndex = new LineIndex(source)));

/** Map an offset to 1-based line and column. */
export function lineCol(source: string, offset: number): { line: number; col: number } {
  return indexOf(source).lineCol(offset);
}

/** A span of a source; its line and column by the source's line index (kept for the last source). */
export function makeSpan(file: string, source: string, start: number, end: number): Span {
  return { file, start, end, ...indexOf(source).lineCol(start) };
}

/** file:line:col: error[code]: message, the source line, a caret, expected/found and notes. */
export function formatDiagnostic(d: Diagnostic, sources: Map<string, string> | string = new Map()): string {
  const where = d.span ? `${d.span.file}:${d.span.line}:${d.span.col}: ` : '';
  const out = [`${where}error[${d.code}]: ${d.message}`];
  const source = typeof sources === 'string' ? sources : d.span ? sources.get(d.span.file) : undefined;
  if (d.span && source !== undefined) {
    const lines = source.split('\n');
    const text = lines[d.span.line - 1] ?? '';
    const width = Math.max(1, Math.min(d.span.end - d.span.start, text.length - d.span.col + 1));
    const gutter = String(d.span.line).length;
    out.push(`${' '.repeat(gutter)} |`);
    out.push(`${d.span.line} | ${text}`);
    out.push(`${' '.repeat(gutter)} | ${' '.repeat(d.span.col - 1)}${'^'.repeat(width)}`);
  }
  if (d.expected !== undefined) out.push(`  expected: ${d.expected}`);
  if (d.found !== undefined) out.push(`  found:    ${d.found}`);
  for (const n of d.notes ?? []) out.push(`  note: ${n}`);
  return out.join('\n');
}
