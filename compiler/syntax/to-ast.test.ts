import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { LilyError } from '../diagnostics.ts';
import { checkProgram } from '../check/check.ts';
import { parse } from './to-ast.ts';

const lily = readFileSync(new URL('../../stdlib/adapters/lily.lily', import.meta.url), 'utf8');

describe('parser', () => {
  it('parses an adapter with hypers, params, sharing and a delta', () => {
    const p = parse('adapter A(r: Dim = 4) on Linear[In, Out] {\n param W: [In, r] = zeros shared every 2 layers\n delta(x: [N, In]) -> [N, Out] = x @ W @ zeros[r, Out]()\n}', 'a.lily');
    const a = p.decls[0];
    expect(a.kind).toBe('adapter');
    if (a.kind !== 'adapter') return;
    expect(a.hypers.map((h) => [h.name, h.hyper])).toEqual([['r', 'Dim']]);
    const param = a.members[0];
    expect(param.kind === 'param' && param.sharing.kind).toBe('every');
    expect(a.members[1].kind).toBe('method');
  });

  it('keeps a string literal as written: runs of spaces and "--" inside it are not squeezed or read as comments', () => {
    const p = parse('import "my  adapters/lo--ra.lily" -- a comment\nimport "b.lily"\n', 'a.lily');
    expect(p.imports.map((i) => i.path)).toEqual(['my  adapters/lo--ra.lily', 'b.lily']);
    expect([p.imports[1]!.span.line, p.imports[1]!.span.col]).toEqual([2, 8]);
  });

  it('gives @ tighter binding than *, and ** tighter than unary minus', () => {
    const p = parse('fn f(x: [N, D], w: [D, D]) -> [N, D] = 2 * x @ w - -x ** 2');
    const body = (p.decls[0] as { body: any }).body;
    expect(body.op).toBe('-');
    expect(body.left.op).toBe('*');
    expect(body.left.right.op).toBe('@');
    expect(body.right.kind).toBe('unary');
    expect(body.right.operand.op).toBe('**');
  });

  it('reports a syntax error with line, column, expected and found', () => {
    try {
      parse('adapter X(r: Dim) on Linear[In, Out] {\n  param A: [In, r = zeros\n}', 'bad.lily');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(LilyError);
      const d = (e as LilyError).diagnostics[0];
      expect(d.code).toBe('E-parse');
      expect([d.span?.line, d.span?.col]).toEqual([2, 19]);
      expect(d.expected).toContain("']'");
      expect(d.found).toBe("'='");
    }
  });

  it('never crashes on random or mutated input: a diagnostic or a program, every time', () => {
    const outcome = (src: string) => {
      try {
        const prog = parse(src, 'fuzz.lily');
        checkProgram(prog);
        return 'ok';
      } catch (e) {
        if (e instanceof LilyError && e.diagnostics.every((d) => d.code && d.message)) return 'diagnostic';
        throw new Error(`crash on ${JSON.stringify(src)}: ${(e as Error).stack}`);
      }
    };
    const mutation = fc.record({ pos: fc.nat(lily.length), del: fc.nat(8), ins: fc.constantFrom('', '[', ']', '(', ')', '@', '*', ',', 'let', 'x', '0', ':', '-- ', 'sum[e]', '=') });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (muts) => {
        let src = lily;
        for (const m of muts) src = src.slice(0, m.pos % (src.length + 1)) + m.ins + src.slice((m.pos % (src.length + 1)) + m.del);
        expect(['ok', 'diagnostic']).toContain(outcome(src));
      }),
      { seed: 7, numRuns: 150 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        expect(['ok', 'diagnostic']).toContain(outcome(s));
      }),
      { seed: 11, numRuns: 200 },
    );
  });
});
