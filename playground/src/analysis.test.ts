import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { analyze, parseDims, typeAt } from './analysis.ts';

const lily = readFileSync(new URL('../../stdlib/adapters/lily.lily', import.meta.url), 'utf8');

describe('playground analysis', () => {
  it('a correct program has no diagnostics and lists its adapters', () => {
    const a = analyze(lily);
    expect(a.diagnostics).toEqual([]);
    expect(a.units.map((u) => u.name)).toContain('Lily');
  });

  it('a shape error is reported on its own line, with the range of the bad expression', () => {
    const src = lily.replace('let h = x @ A in', 'let h = A @ x in');
    const line = src.split('\n').findIndex((l) => l.includes('A @ x')) + 1;
    const a = analyze(src);
    expect(a.checked).toBeUndefined();
    const d = a.diagnostics.find((d) => d.code === 'E-shape');
    expect(d?.line).toBe(line);
    expect(src.slice(d!.from, d!.to)).toBe('@');
    expect(d!.message).toContain('found: [In, r] @ [N, In]');
  });

  it('a parse error is a diagnostic, not an exception', () => {
    const a = analyze('adapter Broken( on Linear[In, Out] {}');
    expect(a.diagnostics).toHaveLength(1);
    expect(a.diagnostics[0].code).toBe('E-parse');
    expect(a.diagnostics[0].line).toBe(1);
  });

  it('hover gives the inferred shape of the innermost expression', () => {
    const a = analyze(lily);
    const at = lily.indexOf('softmax[E](h @ R)') + 'softmax[E]('.length;
    const t = typeAt(a.checked!, at + 2); // on the '@'
    expect(lily.slice(t!.from, t!.to)).toBe('h @ R');
    expect(t!.type).toBe('[N, E]');
  });

  it('parses dims and names a bad part', () => {
    expect(parseDims('N=4, In=8,rslora=true')).toEqual({ dims: { N: 4, In: 8, rslora: true } });
    expect(parseDims('N=four')).toEqual({ error: "the value of N must be a number or true/false, found 'four'" });
  });
});
