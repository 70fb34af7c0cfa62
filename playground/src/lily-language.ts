// Lily syntax highlighting for CodeMirror: a small stream tokenizer over the lexical rules of
// compiler/syntax/lily.ohm (keywords, `--` comments, numbers, hyper kinds, builtins).
import { StreamLanguage, type StreamParser } from '@codemirror/language';
import { BUILTINS } from '../../compiler/check/builtins.ts';

const KEYWORDS = new Set(['adapter', 'model', 'fn', 'param', 'buffer', 'layer', 'let', 'in', 'if', 'then', 'else', 'on', 'and', 'or', 'not', 'repeat', 'shared', 'frozen', 'every', 'across', 'layers', 'per', 'with']);
const TYPES = new Set(['Dim', 'Int', 'Float', 'Bool', 'Linear']);
const ATOMS = new Set(['true', 'false']);

const parser: StreamParser<{ afterDecl: boolean }> = {
  name: 'lily',
  startState: () => ({ afterDecl: false }),
  token(stream, state) {
    if (stream.eatSpace()) return null;
    if (stream.match('--')) {
      stream.skipToEnd();
      return 'comment';
    }
    if (stream.match(/^\d+(\.\d+)?([eE][+-]?\d+)?/)) return 'number';
    const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
    if (word) {
      const w = word[0];
      const decl = state.afterDecl;
      state.afterDecl = w === 'adapter' || w === 'model' || w === 'fn';
      if (decl) return 'def';
      if (KEYWORDS.has(w)) return 'keyword';
      if (ATOMS.has(w)) return 'atom';
      if (TYPES.has(w)) return 'typeName';
      if (BUILTINS[w]) return 'builtin';
      return 'variableName';
    }
    if (stream.match(/^(->|\*\*|==|!=|<=|>=|[@+\-*/=<>])/)) return 'operator';
    stream.next();
    return 'punctuation';
  },
  languageData: { commentTokens: { line: '--' } },
};

export const lilyLanguage = StreamLanguage.define(parser);
