// Mutation operators over Lily source text, one record each. Each takes a well-typed program and
// returns a variant (or undefined when it does not apply): most stay well-typed with odd sizes,
// deep or long expressions, odd initialisers; some break the program on purpose (the compiler must
// then answer with a located diagnostic and exit 1, never an internal error, a hang or a blow-up).
import type { Rand } from './rng.ts';

export interface Mutation {
  name: string;
  apply(src: string, r: Rand): string | undefined;
}

/** Offsets of whole-word `word` in code (not comments), outside declaration headers `word:`. */
function occurrences(src: string, word: RegExp): number[] {
  const out: number[] = [];
  let lineStart = 0;
  for (const line of src.split('\n')) {
    const code = line.split('--')[0];
    for (const m of code.matchAll(word)) {
      const after = code.slice(m.index! + m[0].length);
      if (!/^\s*:/.test(after)) out.push(lineStart + m.index!);
    }
    lineStart += line.length + 1;
  }
  return out;
}

function replaceAt(src: string, at: number, len: number, text: string): string {
  return src.slice(0, at) + text + src.slice(at + len);
}

/** Replace one random match of `re` (global) by `f(match)`. */
function replaceOne(src: string, re: RegExp, r: Rand, f: (m: RegExpMatchArray) => string): string | undefined {
  const ms = [...src.matchAll(re)].filter((m) => !src.slice(src.lastIndexOf('\n', m.index!) + 1, m.index!).includes('--'));
  if (!ms.length) return undefined;
  const m = r.pick(ms);
  return replaceAt(src, m.index!, m[0].length, f(m));
}

/** Wrap one use of the input `x` in a method body. */
function onInput(src: string, r: Rand, f: (x: string) => string): string | undefined {
  const at = occurrences(src, /\bx\b/g);
  if (!at.length) return undefined;
  return replaceAt(src, r.pick(at), 1, f('x'));
}

const SIZES = [0, -1, 1, 2, 3, 5, 7, 256, 100000];

export const MUTATIONS: Mutation[] = [
  { name: 'dim-default', apply: (s, r) => replaceOne(s, /(: Dim = )(\d+)/g, r, (m) => `${m[1]}${r.pick(SIZES)}`) },
  { name: 'int-default', apply: (s, r) => replaceOne(s, /(: Int = )(\d+)/g, r, (m) => `${m[1]}${r.pick(SIZES)}`) },
  { name: 'float-default', apply: (s, r) => replaceOne(s, /(: Float = )([\d.]+)/g, r, (m) => `${m[1]}${r.pick(['0.0', '-1.0', '1e308', '1e-320', '2.5'])}`) },
  { name: 'named-arg-value', apply: (s, r) => replaceOne(s, /\b([A-Za-z_]\w*) = (\d+)\b/g, r, (m) => `${m[1]} = ${r.pick(SIZES)}`) },
  { name: 'named-arg-misspelt', apply: (s, r) => replaceOne(s, /\(([A-Za-z_]\w*) = /g, r, (m) => `(${m[1]}${m[1]} = `) },
  { name: 'index-literal', apply: (s, r) => replaceOne(s, /\[(\d+)\]/g, r, () => `[${r.pick([1, 2, 5, 9, -1, -7, 1000])}]`) },
  { name: 'axis-name', apply: (s, r) => replaceOne(s, /\b(softmax|sum|mean|log_softmax|max|min|logsumexp)\[([^\]]+)\]/g, r, (m) => `${m[1]}[${r.pick(['N', 'In', 'Out', 'E', 'r', '-1', '-5', '0', '3', 'zz'])}]`) },
  { name: 'shape-divide', apply: (s, r) => replaceOne(s, /\[([A-Z][A-Za-z]*), /g, r, (m) => `[${m[1]} / ${r.pick([2, 3, 0])}, `) },
  { name: 'shape-scale', apply: (s, r) => replaceOne(s, /, ([A-Za-z]\w*)\]/g, r, (m) => `, ${r.pick(['2 * ', '3 * '])}${m[1]}]`) },
  { name: 'initialiser', apply: (s, r) => replaceOne(s, /(\] = )([a-z_]+(\([^)]*\))?)/g, r, (m) => `${m[1]}${r.pick(['zeros', 'ones', 'normal', 'normal(std = -1.0)', 'uniform(low = 1.0, high = -1.0)', 'kaiming_uniform(a = 0.0)', 'orthogonal', 'constant(value = 0.5)', 'eye', 'no_such_init', 'normal(bogus = 1.0)'])}`) },
  { name: 'deep-nesting', apply: (s, r) => { const k = r.pick([20, 120, 1000, 20000]); return onInput(s, r, (x) => `${'('.repeat(k)}${x}${')'.repeat(k)}`); } },
  { name: 'deep-unary', apply: (s, r) => { const k = r.pick([50, 500, 5000]); return onInput(s, r, (x) => `${'tanh('.repeat(k)}${x}${')'.repeat(k)}`); } },
  { name: 'long-sum', apply: (s, r) => { const k = r.pick([30, 40, 300]); return onInput(s, r, (x) => `(${Array(k).fill(x).join(' + ')})`); } },
  { name: 'long-product', apply: (s, r) => { const k = r.pick([30, 40]); return onInput(s, r, (x) => `(${Array(k).fill(x).join(' * ')})`); } },
  {
    name: 'linear-stack',
    apply: (s, r) => {
      const head = /on Linear\[(\w+), (\w+)\] \{\n/.exec(s);
      if (!head) return undefined;
      const k = r.pick([30, 31, 60]);
      const withParam = replaceAt(s, head.index + head[0].length, 0, `  param Fz: [${head[1]}, ${head[1]}] = normal(std = 0.1)\n`);
      return onInput(withParam, r, (x) => `(${x}${' @ Fz'.repeat(k)})`);
    },
  },
  { name: 'nan-input', apply: (s, r) => onInput(s, r, (x) => r.pick([`(${x} * log(0.0 * ${x}))`, `(${x} * sqrt(-1.0 - square(${x})))`, `(${x} * exp(1000.0))`])) },
  { name: 'repeat-count', apply: (s, r) => replaceOne(s, /\brepeat (\w+)/g, r, () => `repeat ${r.pick(['10000', '0', '-1', '3', 'zz'])}`) },
  { name: 'repeat-linear', apply: (s, r) => replaceOne(s, /(layer \w+: )(Linear\[[^\]]*\])/g, r, (m) => `${m[1]}${m[2]} repeat ${r.pick(['2', 'L', '3'])}`) },
  { name: 'delete-line', apply: (s, r) => { const ls = s.split('\n'); const i = r.int(ls.length); if (!ls[i].trim()) return undefined; ls.splice(i, 1); return ls.join('\n'); } },
  { name: 'duplicate-line', apply: (s, r) => { const ls = s.split('\n'); const i = r.int(ls.length); ls.splice(i, 0, ls[i]); return ls.join('\n'); } },
  { name: 'rename-ident', apply: (s, r) => replaceOne(s, /\b(?!adapter|model|fn|param|layer|let|in|on|with|shared|across|every|layers|repeat|if|then|else|Dim|Int|Float|Bool|Linear|delta|forward)[A-Za-z_]\w*\b/g, r, (m) => `${m[0]}_zz`) },
  { name: 'delete-token', apply: (s, r) => replaceOne(s, /[()\[\],=@:{}]/g, r, () => '') },
  { name: 'insert-char', apply: (s, r) => replaceAt(s, r.int(s.length + 1), 0, r.pick(['(', ')', '[', ']', '{', '}', ',', '=', '@', '\t', '\u00e9', '\u0000', '"', '0', '-'])) },
  { name: 'truncate', apply: (s, r) => s.slice(0, r.int(s.length)) },
  { name: 'bom', apply: (s) => `\uFEFF${s}` },
  { name: 'crlf', apply: (s) => s.replace(/\n/g, '\r\n') },
  { name: 'big-comment', apply: (s, r) => `${s}\n${`-- ${'x'.repeat(70)}\n`.repeat(r.pick([2000, 14000]))}${r.chance(0.5) ? 'adapter Oops on Linear[In, Out] { }\n' : ''}` },
];

export function mutateProgram(src: string, r: Rand, count: number): { source: string; applied: string[] } {
  let source = src;
  const applied: string[] = [];
  for (let tries = 0; applied.length < count && tries < 20; tries++) {
    const m = r.pick(MUTATIONS);
    const next = m.apply(source, r);
    if (next === undefined || next === source) continue;
    source = next;
    applied.push(m.name);
  }
  return { source, applied };
}
