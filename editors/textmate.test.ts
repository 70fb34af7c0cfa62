// The TextMate grammar stays in step with the language: every keyword of lily.ohm is highlighted,
// every regex compiles, and the VS Code extension points at the grammar it ships.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (p: string) => readFileSync(new URL(p, import.meta.url), 'utf8');
const tm = JSON.parse(read('./vscode/syntaxes/lily.tmLanguage.json'));
const ohm = read('../compiler/syntax/lily.ohm');

/** Every {match, name | captures} rule in the grammar, flattened. */
function rules(node: any): { re: RegExp; scope?: string }[] {
  if (Array.isArray(node)) return node.flatMap(rules);
  if (!node || typeof node !== 'object') return [];
  // A rule's scope: its name, or (declarations) the scope of its first capture, the keyword.
  const own = node.match ? [{ re: new RegExp(node.match), scope: (node.name ?? node.captures?.['1']?.name) as string | undefined }] : [];
  return [...own, ...Object.values(node).flatMap((v) => (typeof v === 'object' ? rules(v) : []))];
}

/** The scope text starting with a token gets: the first rule, in the grammar's order, matching at its start. */
const scopeOf = (text: string) => rules(tm.repository).find((r) => r.re.exec(text)?.index === 0)?.scope;

describe('TextMate grammar (editors/vscode)', () => {
  it('highlights every keyword of lily.ohm as a keyword, modifier or constant', () => {
    const kw = /keyword = \(([^)]*)\)/s.exec(ohm)![1].match(/"([a-z]+)"/g)!.map((s) => s.slice(1, -1));
    expect(kw.length).toBeGreaterThan(20);
    const unstyled = kw.filter((k) => !/^(keyword|storage|constant)\./.test(scopeOf(`${k} x`) ?? ''));
    expect(unstyled).toEqual([]);
  });

  it('highlights the hyper-parameter kinds, comments and numbers', () => {
    const kinds = /HyperKind = (.*)/.exec(ohm)![1].match(/"(\w+)"/g)!.map((s) => s.slice(1, -1));
    for (const k of kinds) expect(scopeOf(k), k).toBe('support.type.hyper.lily');
    expect(scopeOf('-- a comment')).toBe('comment.line.double-dash.lily');
    expect(scopeOf('1.5e-3')).toBe('constant.numeric.lily');
  });

  it('the extension manifest points at the grammar and language configuration it ships', () => {
    const pkg = JSON.parse(read('./vscode/package.json'));
    const g = pkg.contributes.grammars[0];
    expect(g.scopeName).toBe(tm.scopeName);
    expect(existsSync(new URL(`./vscode/${g.path}`, import.meta.url))).toBe(true);
    expect(pkg.contributes.languages[0].extensions).toEqual(['.lily']);
    expect(existsSync(new URL(`./vscode/${pkg.contributes.languages[0].configuration}`, import.meta.url))).toBe(true);
    expect(existsSync(new URL(`./vscode/${pkg.main}`, import.meta.url))).toBe(true);
  });
});
