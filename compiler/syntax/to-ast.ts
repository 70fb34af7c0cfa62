// The only module that touches ohm: parses Lily source into the AST of ast.ts, and turns ohm's
// failure position and expected-set into a diagnostic a person can read.
import * as ohm from 'ohm-js';
import { LilyError, makeSpan } from '../diagnostics.ts';
import type * as A from './ast.ts';
import { LILY_GRAMMAR_RECIPE } from './lily-grammar.ts';

// lily.ohm, prepared at build time (see grammar-recipe.ts); `makeRecipe` is ohm's loader for
// generated grammar bundles (exported, though missing from its type declarations).
const grammar = (ohm as unknown as { makeRecipe(recipe: unknown): ohm.Grammar }).makeRecipe(JSON.parse(LILY_GRAMMAR_RECIPE));

/**
 * Brackets nest at most this deep. ohm parses recursively (about 15 rules per bracket level) and
 * exhausts Node's stack near 100 levels; a clear limit, checked first, beats a crash.
 */
export const MAX_NESTING = 48;

function checkNesting(source: string, file: string): void {
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '-' && source[i + 1] === '-') {
      const nl = source.indexOf('\n', i);
      if (nl < 0) return;
      i = nl;
    } else if (c === '(' || c === '[' || c === '{') {
      if (++depth > MAX_NESTING)
        throw new LilyError([{ code: 'E-limit', message: `brackets nest more than ${MAX_NESTING} levels deep here`, span: makeSpan(file, source, i, i + 1), notes: ['name intermediate results with `let … in` to flatten the expression'] }]);
    } else if (c === ')' || c === ']' || c === '}') depth = Math.max(0, depth - 1);
  }
}

/** A parse that ran out of stack (an extremely long chain of operators or lets) is refused clearly. */
function stackLimit<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message))
      throw new LilyError([{ code: 'E-limit', message: `${file}: an expression is too long or too deeply nested to parse`, notes: ['split it with `let … in`'] }]);
    throw e;
  }
}

/**
 * The source with every run of whitespace and comments squeezed to one character (a newline if
 * the run had one), and the map from its offsets back to the source's. ohm spends ~13 µs on every
 * character it skips, so a file of long comments parses in seconds squeezed, minutes not.
 */
export function squeeze(source: string): { text: string; toSource(offset: number): number } {
  const parts: string[] = [];
  const textAt: number[] = []; // segment k starts at textAt[k] in the text, sourceAt[k] in the source
  const sourceAt: number[] = [];
  let out = 0;
  let i = 0;
  const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 0xfeff || c === 11 || c === 12;
  while (i < source.length) {
    let j = i;
    while (j < source.length && !isSpace(source.charCodeAt(j)) && !(source[j] === '-' && source[j + 1] === '-')) {
      // a string literal (it ends at its quote or the line's end) is kept as written: spaces and "--" in it are text
      if (source[j] === '"') {
        j++;
        while (j < source.length && source[j] !== '"' && source[j] !== '\n') j++;
        if (source[j] === '"') j++;
      } else j++;
    }
    if (j > i) {
      textAt.push(out), sourceAt.push(i), parts.push(source.slice(i, j));
      out += j - i;
      i = j;
    }
    if (i >= source.length) break;
    const runStart = i;
    let newline = false;
    while (i < source.length) {
      const c = source.charCodeAt(i);
      if (isSpace(c)) {
        if (c === 10) newline = true;
        i++;
      } else if (source[i] === '-' && source[i + 1] === '-') {
        const nl = source.indexOf('\n', i);
        i = nl < 0 ? source.length : nl;
      } else break;
    }
    textAt.push(out), sourceAt.push(runStart), parts.push(newline ? '\n' : ' ');
    out += 1;
  }
  const text = parts.join('');
  const toSource = (offset: number): number => {
    if (offset >= text.length) return source.length;
    let lo = 0;
    let hi = textAt.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (textAt[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return sourceAt[lo] + (offset - textAt[lo]);
  };
  return { text, toSource };
}

/** The source being turned into an AST: the semantics' actions read it (parse sets it; one parse at a time). */
const NO_SOURCE = { file: '', source: '', toSource: (offset: number) => offset };
let at: { file: string; source: string; toSource(offset: number): number } = NO_SOURCE;
let semantics: ohm.Semantics | undefined;

/** The AST semantics, built once: building it (ohm checks every action against the grammar) costs more than a small parse. */
function astSemantics(): ohm.Semantics {
  if (semantics) return semantics;
  const sem = grammar.createSemantics();
  const span = (node: ohm.Node): A.Span => makeSpan(at.file, at.source, at.toSource(node.source.startIdx), at.toSource(node.source.endIdx));
  const list = (node: ohm.Node): ohm.Node[] => node.asIteration().children;
  const opt = (node: ohm.Node): ohm.Node | undefined => node.children[0];
  const bin = (op: ohm.Node, l: ohm.Node, r: ohm.Node, node: ohm.Node): A.Expr => ({
    kind: 'binary',
    op: op.sourceString as A.BinOp,
    left: l.ast(),
    right: r.ast(),
    opSpan: span(op),
    span: span(node),
  });
  /** The span from the start of `first` to the end of `last`. */
  const spanOver = (first: ohm.Node, last: ohm.Node): A.Span => makeSpan(at.file, at.source, at.toSource(first.source.startIdx), at.toSource(last.source.endIdx));
  /** first (op rest)*: left-associated binary nodes, each spanning from `first` to its right operand */
  const foldBin = (first: ohm.Node, ops: ohm.Node, rest: ohm.Node): A.Expr => {
    let acc = first.ast() as A.Expr;
    ops.children.forEach((op, i) => {
      const r = rest.children[i];
      acc = { kind: 'binary', op: op.sourceString as A.BinOp, left: acc, right: r.ast(), opSpan: span(op), span: spanOver(first, r) };
    });
    return acc;
  };
  const foldDim = (first: ohm.Node, ops: ohm.Node, rest: ohm.Node): A.DimExpr => {
    let acc = first.ast() as A.DimExpr;
    ops.children.forEach((op, i) => {
      const r = rest.children[i];
      acc = { kind: 'dimBin', op: op.sourceString as '+' | '-' | '*' | '/', left: acc, right: r.ast(), span: spanOver(first, r) };
    });
    return acc;
  };

  sem.addOperation('ast', {
    Program(imports, decls) {
      return { imports: imports.children.map((i) => i.ast()), decls: decls.children.map((d) => d.ast()) };
    },
    Import(_kw, path) {
      return { path: path.sourceString.slice(1, -1), span: span(path) } satisfies A.Import;
    },
    AdapterDecl(_kw, name, hypers, _on, layer, constraints, _o, members, _c) {
      return {
        kind: 'adapter',
        name: name.sourceString,
        hypers: opt(hypers)?.ast() ?? [],
        on: layer.ast(),
        constraints: opt(constraints)?.ast() ?? [],
        members: members.children.map((m) => m.ast()),
        span: span(name),
        whole: span(this),
      } satisfies A.AdapterDecl;
    },
    ModelDecl(_kw, name, hypers, constraints, _o, members, _c) {
      return {
        kind: 'model',
        name: name.sourceString,
        hypers: opt(hypers)?.ast() ?? [],
        constraints: opt(constraints)?.ast() ?? [],
        members: members.children.map((m) => m.ast()),
        span: span(name),
        whole: span(this),
      } satisfies A.ModelDecl;
    },
    Constraints(_where, list) {
      return list.asIteration().children.map((c) => c.ast());
    },
    FnDecl(_kw, name, _o, params, _c, ret, _eq, body) {
      return {
        kind: 'fn',
        name: name.sourceString,
        params: list(params).map((p) => p.ast()),
        returns: opt(ret)?.ast(),
        body: body.ast(),
        span: span(name),
        whole: span(this),
      } satisfies A.FnDecl;
    },
    HyperParams(_o, params, _c) {
      return list(params).map((p) => p.ast());
    },
    HyperParam(name, _colon, kind, _eq, dflt) {
      return {
        name: name.sourceString,
        hyper: kind.sourceString as A.HyperKind,
        default: opt(dflt)?.ast(),
        span: span(name),
      } satisfies A.HyperParam;
    },
    ParamDecl(kw, name, _colon, type, _eq, init, mods) {
      let trainable = kw.sourceString === 'param';
      let sharing: A.Sharing = { kind: 'perLayer' };
      let lrScale: A.Expr | undefined;
      for (const m of mods.children) {
        const mod = m.ast() as { frozen?: true; sharing?: A.Sharing; lrScale?: A.Expr };
        if (mod.frozen) trainable = false;
        if (mod.sharing) sharing = mod.sharing;
        if (mod.lrScale) lrScale = mod.lrScale;
      }
      return { kind: 'param', name: name.sourceString, type: type.ast(), init: init.ast(), trainable, sharing, lrScale, span: span(name) } satisfies A.ParamDecl;
    },
    ParamModifier_lr(_lr, _times, e) {
      return { lrScale: e.ast() };
    },
    ParamModifier_frozen(_f) {
      return { frozen: true };
    },
    ParamModifier_across(_s, _a, _l) {
      return { sharing: { kind: 'acrossLayers' } };
    },
    ParamModifier_model(_s, _a, _m) {
      return { sharing: { kind: 'acrossModel' } };
    },
    ParamModifier_every(_s, _e, count, _l) {
      return { sharing: { kind: 'every', count: count.ast() } };
    },
    ParamModifier_perLayer(_p, _l) {
      return { sharing: { kind: 'perLayer' } };
    },
    InitFrom(_from, e) {
      return { name: '', args: [], from: e.ast(), span: span(this) };
    },
    InitCall(name, _o, args, _c) {
      const a = opt(args);
      return { name: name.sourceString, args: a ? list(a).map((x) => x.ast()) : [], span: span(this) };
    },
    LayerDecl(_kw, name, _colon, inst, adapter, _rep, count) {
      return { kind: 'layer', name: name.sourceString, instance: inst.ast(), adapter: opt(adapter)?.ast(), repeat: opt(count)?.ast(), span: span(name) } satisfies A.LayerDecl;
    },
    AdapterUse(_with, name, _o, args, _c) {
      const a = opt(args);
      return { name: name.sourceString, args: a ? list(a).map((x) => x.ast()) : [], span: span(name) };
    },
    LayerInstance_builtin(type) {
      return { kind: 'builtin', type: type.ast() };
    },
    LayerInstance_model(name, _o, args, _c) {
      return { kind: 'model', model: name.sourceString, args: list(args).map((a) => a.ast()), span: span(name) };
    },
    LayerType(name, _o, dims, _c) {
      return { name: name.sourceString, dims: list(dims).map((d) => d.ast()), span: span(this) } satisfies A.LayerTypeAst;
    },
    LetDecl(_kw, name, _eq, value) {
      return { kind: 'let', name: name.sourceString, value: value.ast(), span: span(name) } satisfies A.LetDecl;
    },
    MethodDecl(name, _o, params, _c, ret, _eq, body) {
      return {
        kind: 'method',
        name: name.sourceString,
        params: list(params).map((p) => p.ast()),
        returns: opt(ret)?.ast(),
        body: body.ast(),
        span: span(name),
      } satisfies A.MethodDecl;
    },
    ValueParam(name, _colon, type) {
      return { name: name.sourceString, type: type.ast(), span: span(name) } satisfies A.ValueParam;
    },
    ReturnType(_arrow, type) {
      return type.ast();
    },
    ValueType(t) {
      return t.ast();
    },
    HyperKind(k) {
      return { kind: 'hyperType', hyper: k.sourceString as A.HyperKind, span: span(this) } satisfies A.HyperTypeAst;
    },
    TensorType(_o, dims, _c) {
      return { kind: 'tensorType', dims: list(dims).map((d) => d.ast()), span: span(this) } satisfies A.TensorTypeAst;
    },
    DimExpr(first, ops, rest) {
      return foldDim(first, ops, rest);
    },
    DimTerm(first, ops, rest) {
      return foldDim(first, ops, rest);
    },
    DimAtom_paren(_o, e, _c) {
      return e.ast();
    },
    DimAtom_call(name, _o, args, _c) {
      return { kind: 'dimCall', fn: name.sourceString, args: args.asIteration().children.map((a) => a.ast()), span: span(this) };
    },
    DimAtom_neg(_m, n) {
      return { kind: 'dimInt', value: -Number(n.sourceString), span: span(this) };
    },
    intLit(_d) {
      return { kind: 'dimInt', value: Number(this.sourceString), span: span(this) };
    },
    ident(_s, _r) {
      // As a dimension atom or a bare variable; callers that need a name use sourceString.
      return { kind: 'dimName', name: this.sourceString, span: span(this) };
    },
    Expr_let(_l, name, _eq, value, _in, body) {
      return { kind: 'let', name: name.sourceString, nameSpan: span(name), value: value.ast(), body: body.ast(), span: span(this) };
    },
    Expr_if(_i, c, _t, a, _e, b) {
      return { kind: 'if', cond: c.ast(), then: a.ast(), else: b.ast(), span: span(this) };
    },
    OrExpr(first, ops, rest) {
      return foldBin(first, ops, rest);
    },
    AndExpr(first, ops, rest) {
      return foldBin(first, ops, rest);
    },
    NotExpr_not(_n, e) {
      return { kind: 'unary', op: 'not', operand: e.ast(), span: span(this) };
    },
    CmpExpr_cmp(l, op, r) {
      return bin(op, l, r, this);
    },
    AddExpr(first, ops, rest) {
      return foldBin(first, ops, rest);
    },
    MulExpr(first, ops, rest) {
      return foldBin(first, ops, rest);
    },
    MatExpr(first, ops, rest) {
      return foldBin(first, ops, rest);
    },
    Unary_neg(_m, e) {
      return { kind: 'unary', op: '-', operand: e.ast(), span: span(this) };
    },
    PowExpr_pow(l, op, r) {
      return bin(op, l, r, this);
    },
    Postfix(primary, ops) {
      // x[i].f(a): each operator applies to everything before it
      let acc = primary.ast() as A.Expr;
      for (const op of ops.children) {
        const c = op.children[0];
        const at = spanOver(primary, op);
        if (c.ctorName === 'PostfixOp_index') acc = { kind: 'index', target: acc, items: list(c.children[1]).map((i) => i.ast()), span: at };
        else if (c.ctorName === 'PostfixOp_member') acc = { kind: 'member', target: acc, name: c.children[1].sourceString, span: at };
        else acc = { kind: 'call', callee: acc, args: list(c.children[1]).map((a) => a.ast()), span: at };
      }
      return acc;
    },
    Primary_axisCall(name, _o, axes, _c, _o2, args, _c2) {
      return {
        kind: 'axisCall',
        name: name.sourceString,
        nameSpan: span(name),
        axes: list(axes).map((a) => a.ast()),
        args: list(args).map((a) => a.ast()),
        span: span(this),
      };
    },
    Primary_paren(_o, e, _c) {
      return e.ast();
    },
    Primary(e) {
      const node = e.ast();
      // A bare identifier in expression position is a variable.
      return node.kind === 'dimName' ? { kind: 'var', name: node.name, span: node.span } : node;
    },
    number(_i, _dot, _f, _e, _s, _x) {
      const text = this.sourceString;
      return { kind: 'num', value: Number(text), isInt: /^\d+$/.test(text), span: span(this) };
    },
    boolLit(_b) {
      return { kind: 'bool', value: this.sourceString === 'true', span: span(this) };
    },
    IndexItem_all(_c) {
      return { kind: 'all', span: span(this) };
    },
    IndexItem_slice(lo, _c, hi) {
      return { kind: 'slice', lo: opt(lo)?.ast(), hi: hi.ast(), span: span(this) };
    },
    IndexItem_from(lo, _c) {
      return { kind: 'slice', lo: lo.ast(), span: span(this) };
    },
    IndexItem(e) {
      if (['IndexItem_all', 'IndexItem_slice', 'IndexItem_from'].includes(e.ctorName)) return e.ast();
      return { kind: 'expr', expr: e.ast(), span: span(this) };
    },
    Arg_named(name, _eq, value) {
      return { name: name.sourceString, value: value.ast(), span: span(this) } satisfies A.Arg;
    },
    Arg_positional(value) {
      return { value: value.ast(), span: span(this) } satisfies A.Arg;
    },
    _iter(...children) {
      return children.map((c) => c.ast());
    },
  });
  return (semantics = sem);
}

export function parse(source: string, file = '<input>'): A.Program {
  checkNesting(source, file);
  const { text, toSource } = squeeze(source);
  const match = stackLimit(file, () => grammar.match(text));
  if (match.failed()) throw new LilyError([parseDiagnostic(source, file, toSource((match as unknown as RightmostFailure).getRightmostFailurePosition()), match)]);
  at = { file, source, toSource };
  try {
    const { imports, decls } = stackLimit(file, () => astSemantics()(match).ast() as { imports: A.Import[]; decls: A.Decl[] });
    return { file, source, imports, decls };
  } finally {
    at = NO_SOURCE; // not kept alive by the semantics
  }
}

/** Turn ohm's rightmost failure into "expected X, found Y" with a span. */
// ohm's typings omit these two methods of a failed match; they are documented API.
type RightmostFailure = { getRightmostFailurePosition(): number; getExpectedText(): string };

function parseDiagnostic(source: string, file: string, pos: number, match: ohm.MatchResult) {
  const expectedRaw = (match as unknown as RightmostFailure).getExpectedText();
  const found = describeFound(source, pos);
  const expected = humanExpected(expectedRaw);
  return {
    code: 'E-parse',
    message: `syntax error: unexpected ${found}`,
    span: makeSpan(file, source, pos, pos + Math.max(1, tokenAt(source, pos).length)),
    expected,
    found,
  };
}

function tokenAt(source: string, pos: number): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*|\d+(\.\d+)?|\S)/.exec(source.slice(pos));
  return m ? m[0] : '';
}

function describeFound(source: string, pos: number): string {
  if (pos >= source.length) return 'end of file';
  const tok = tokenAt(source, pos);
  return tok ? `'${tok}'` : 'whitespace';
}

// ohm says things like: "\"]\", \",\", or an identifier"; names of lexical rules are rewritten.
const RULE_WORDS: Record<string, string> = {
  ident: 'a name',
  number: 'a number',
  intLit: 'an integer',
  boolLit: 'true or false',
  cmpOp: 'a comparison',
  letter: 'a name',
  digit: 'a digit',
  'any character': 'more input',
  'end of input': 'end of file',
};

function humanExpected(raw: string): string {
  let text = raw;
  for (const [rule, words] of Object.entries(RULE_WORDS)) text = text.replaceAll(rule, words);
  text = text.replace(/\b(?:a|an) (a|an) /g, '$1 '); // ohm's "an ident" → "a name", not "a a name"
  // ohm quotes terminals with double quotes; people read code in single quotes.
  text = text.replace(/"((?:[^"\\]|\\.)*)"/g, (_m, t: string) => `'${t.replace(/\\(.)/g, '$1')}'`);
  const parts = [...new Set(text.split(/, or |, | or /).map((s) => s.trim()).filter(Boolean))];
  if (parts.length <= 1) return parts[0] ?? text;
  return `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`;
}
