// Diagnostics point at the right place: line and column from offsets (linear time on large
// files), the caret under the exact characters, and parse errors located through the squeezed
// text the parser sees.
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, LilyError, lineCol, makeSpan } from './diagnostics.ts';
import { checkSource } from './frontend.ts';
import { parse, squeeze } from './syntax/to-ast.ts';

const caretLine = (text: string) => text.split('\n').find((l) => /^\s*\|\s*\^/.test(l))!;

describe('diagnostics', () => {
  it('maps offsets to 1-based line and column', () => {
    const src = 'ab\ncde\n\nf';
    expect([0, 1, 2, 3, 5, 7, 8].map((o) => lineCol(src, o))).toEqual([
      { line: 1, col: 1 },
      { line: 1, col: 2 },
      { line: 1, col: 3 },
      { line: 2, col: 1 },
      { line: 2, col: 3 },
      { line: 3, col: 1 },
      { line: 4, col: 1 },
    ]);
  });

  it('puts the caret under the span: same column, same width', () => {
    const src = 'fn f(x: [N]) -> [N] = x + y\n';
    const at = src.indexOf('y');
    const text = formatDiagnostic({ code: 'E-name', message: "unknown name 'y'", span: makeSpan('f.lily', src, at, at + 1) }, src);
    const source = text.split('\n').find((l) => l.startsWith('1 | '))!;
    const caret = caretLine(text);
    expect(caret.indexOf('^') - caret.indexOf('|')).toBe(source.indexOf('y') - source.indexOf('|'));
    expect(caret.slice(caret.indexOf('^'))).toBe('^');
    const wide = formatDiagnostic({ code: 'E-x', message: 'm', span: makeSpan('f.lily', src, src.indexOf('x +'), src.indexOf('x +') + 5) }, src);
    expect(caretLine(wide).slice(caretLine(wide).indexOf('^'))).toBe('^^^^^');
  });

  it('locates a checker error and a parse error at the offending token, past comments and blank runs', () => {
    const src = '-- a comment\n\n   -- another\nfn f(x: [N]) -> [N] =   x +   zz\n';
    try {
      checkSource(src, 'f.lily');
      expect.unreachable();
    } catch (e) {
      const d = (e as LilyError).diagnostics[0];
      expect([d.span!.line, d.span!.col]).toEqual([4, src.split('\n')[3].indexOf('zz') + 1]);
    }
    const bad = '-- c\nfn f(x: [N]) -> [N] =    x +    )\n';
    try {
      parse(bad, 'g.lily');
      expect.unreachable();
    } catch (e) {
      const d = (e as LilyError).diagnostics[0];
      expect(d.code).toBe('E-parse');
      expect([d.span!.line, d.span!.col]).toEqual([2, bad.split('\n')[1].lastIndexOf(')') + 1]);
    }
  });

  it('squeezes whitespace and comments without moving any token', () => {
    const src = 'fn  f(x: [N])\t-> [N] -- c\n\n  = x\r\n';
    const { text, toSource } = squeeze(src);
    expect(text).toBe('fn f(x: [N]) -> [N]\n= x\n');
    for (let i = 0; i < text.length; i++) if (!/\s/.test(text[i])) expect(src[toSource(i)]).toBe(text[i]);
  });

  it('a 1 MB file of comments and one error is located, not slow', () => {
    const src = `${'-- '.padEnd(79, 'x')}\n`.repeat(13000) + 'fn f(x: [N]) -> [N] = x + q\n';
    const t0 = performance.now();
    try {
      checkSource(src, 'big.lily');
      expect.unreachable();
    } catch (e) {
      expect((e as LilyError).diagnostics[0].span!.line).toBe(13001);
    }
    // Generous for a loaded 2-core machine: the old quadratic positions took minutes here.
    expect(performance.now() - t0).toBeLessThan(20_000);
  });
});
