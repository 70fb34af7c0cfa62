// Diagnostics point at the right place: line and column from offsets (linear time on large
// files), the caret under the exact characters, and parse errors located through the squeezed
// text the parser sees.
import { describe, expect, it } from 'vitest';
import { fail, formatDiagnostic, LilyError, LineIndex, lineCol, makeSpan } from './diagnostics.ts';
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

  // No timing here (speed is for benchmarks): the old quadratic positions took minutes on this file,
  // which the suite's test timeout catches.
  it('a 1 MB file of comments and one error is located', () => {
    const src = `${'-- '.padEnd(79, 'x')}\n`.repeat(13000) + 'fn f(x: [N]) -> [N] = x + q\n';
    try {
      checkSource(src, 'big.lily');
      expect.unreachable();
    } catch (e) {
      expect((e as LilyError).diagnostics[0].span!.line).toBe(13001);
    }
  });
});

describe('positions and the printed diagnostic, exactly', () => {
  it('finds every offset’s line and column in a many-line source (the binary search at each line start)', () => {
    const lines = Array.from({ length: 97 }, (_, i) => 'x'.repeat(i % 5));
    const src = lines.join('\n');
    const index = new LineIndex(src);
    let offset = 0;
    lines.forEach((text, i) => {
      for (let col = 1; col <= text.length + 1; col++) expect(index.lineCol(offset + col - 1)).toEqual({ line: i + 1, col });
      offset += text.length + 1;
    });
  });

  it('clamps an offset outside the source to its first or last line', () => {
    const src = 'ab\ncde\n\nf';
    expect(lineCol(src, src.length)).toEqual({ line: 4, col: 2 });
    expect(lineCol(src, src.length + 5)).toEqual({ line: 4, col: 7 });
    expect(lineCol(src, -1)).toEqual({ line: 1, col: 0 });
    expect(lineCol('a\n', 2)).toEqual({ line: 2, col: 1 });
    expect(lineCol('', 0)).toEqual({ line: 1, col: 1 });
    expect(makeSpan('f.lily', src, 4, 6)).toEqual({ file: 'f.lily', start: 4, end: 6, line: 2, col: 2 });
  });

  it('a diagnostic without a place: the header, expected, found and notes', () => {
    expect(formatDiagnostic({ code: 'E-usage', message: 'no', expected: 'a, b', found: 'c', notes: ['one', 'two'] })).toBe(
      'error[E-usage]: no\n  expected: a, b\n  found:    c\n  note: one\n  note: two',
    );
    expect(formatDiagnostic({ code: 'E-usage', message: 'empty', expected: '', found: '' })).toBe('error[E-usage]: empty\n  expected: \n  found:    ');
  });

  it('a located diagnostic: gutter as wide as the line number, the caret clamped to the line', () => {
    const src = `${'\n'.repeat(11)}let abc = 1\nnext\n`;
    const at = src.indexOf('abc');
    const span = makeSpan('f.lily', src, at, at + 3);
    expect(formatDiagnostic({ code: 'E-name', message: 'm', span }, src)).toBe('f.lily:12:5: error[E-name]: m\n   |\n12 | let abc = 1\n   |     ^^^');
    // A span running past the end of its line is underlined to the line's end; an empty one gets one caret.
    const long = makeSpan('f.lily', src, at, at + 40);
    expect(formatDiagnostic({ code: 'E-x', message: 'm', span: long }, new Map([['f.lily', src]]))).toBe('f.lily:12:5: error[E-x]: m\n   |\n12 | let abc = 1\n   |     ^^^^^^^');
    const empty = makeSpan('f.lily', src, at, at);
    expect(formatDiagnostic({ code: 'E-x', message: 'm', span: empty }, src).split('\n').at(-1)).toBe('   |     ^');
    // The source of another file is not shown; the place still is.
    expect(formatDiagnostic({ code: 'E-x', message: 'm', span, notes: ['n'] }, new Map([['g.lily', src]]))).toBe('f.lily:12:5: error[E-x]: m\n  note: n');
    expect(formatDiagnostic({ code: 'E-x', message: 'm', span: { file: 'f.lily', start: 0, end: 2, line: 40, col: 1 } }, 'ab')).toBe('f.lily:40:1: error[E-x]: m\n   |\n40 | \n   | ^');
  });

  it('LilyError carries its diagnostics, joins their messages, and fail() throws one with the extras', () => {
    const e = new LilyError([{ code: 'E-a', message: 'first' }, { code: 'E-b', message: 'second' }]);
    expect(e.message).toBe('first\nsecond');
    expect(e.name).toBe('LilyError');
    expect(e).toBeInstanceOf(Error);
    let thrown: unknown;
    try {
      fail('E-shape', 'bad', undefined, { expected: 'x', notes: ['y'] });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(LilyError);
    expect((thrown as LilyError).diagnostics).toEqual([{ code: 'E-shape', message: 'bad', span: undefined, expected: 'x', notes: ['y'] }]);
  });
});
