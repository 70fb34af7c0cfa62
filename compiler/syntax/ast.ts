// The typed AST of Lily. Every node carries the source span it came from, so every later stage
// can point at the user's text. Produced only by to-ast.ts.

export interface Span {
  file: string;
  start: number; // offset into the source
  end: number;
  line: number; // 1-based
  col: number; // 1-based
}

export type HyperKind = 'Dim' | 'Int' | 'Float' | 'Bool';

// ---- dimension expressions (inside types and axis arguments) ----
export type DimExpr =
  | { kind: 'dimName'; name: string; span: Span }
  | { kind: 'dimInt'; value: number; span: Span }
  | { kind: 'dimBin'; op: '+' | '-' | '*' | '/'; left: DimExpr; right: DimExpr; span: Span }
  /** A derived dimension: max(In, Out), min(In, Out). */
  | { kind: 'dimCall'; fn: string; args: DimExpr[]; span: Span };

export interface TensorTypeAst {
  kind: 'tensorType';
  dims: DimExpr[];
  span: Span;
}
export interface HyperTypeAst {
  kind: 'hyperType';
  hyper: HyperKind;
  span: Span;
}
export type ValueTypeAst = TensorTypeAst | HyperTypeAst;

// ---- expressions ----
export type BinOp = '+' | '-' | '*' | '/' | '@' | '**' | '==' | '!=' | '<' | '<=' | '>' | '>=' | 'and' | 'or';

export interface Arg {
  name?: string; // named argument `a = 1`
  value: Expr;
  span: Span;
}

export type IndexItem =
  | { kind: 'all'; span: Span }
  | { kind: 'expr'; expr: Expr; span: Span }
  /** lo:hi along one axis (either bound may be left out: 0 and the axis size). */
  | { kind: 'slice'; lo?: DimExpr; hi?: DimExpr; span: Span };

export type Expr =
  | { kind: 'num'; value: number; isInt: boolean; span: Span }
  | { kind: 'bool'; value: boolean; span: Span }
  | { kind: 'var'; name: string; span: Span }
  | { kind: 'let'; name: string; nameSpan: Span; value: Expr; body: Expr; span: Span }
  | { kind: 'if'; cond: Expr; then: Expr; else: Expr; span: Span }
  | { kind: 'unary'; op: '-' | 'not'; operand: Expr; span: Span }
  | { kind: 'binary'; op: BinOp; left: Expr; right: Expr; opSpan: Span; span: Span }
  | { kind: 'index'; target: Expr; items: IndexItem[]; span: Span }
  | { kind: 'member'; target: Expr; name: string; span: Span }
  | { kind: 'call'; callee: Expr; args: Arg[]; span: Span }
  // softmax[E](x), sum[e](..), reshape[N, D](x): builtins with axis / shape arguments
  | { kind: 'axisCall'; name: string; nameSpan: Span; axes: DimExpr[]; args: Arg[]; span: Span };

// ---- declarations ----
export interface HyperParam {
  name: string;
  hyper: HyperKind;
  default?: Expr;
  span: Span;
}

export type Sharing =
  | { kind: 'perLayer' }
  | { kind: 'acrossLayers' }
  /** One tensor for every layer this adapter is attached to, whatever its target (VB-LoRA's bank). */
  | { kind: 'acrossModel' }
  | { kind: 'every'; count: Expr };

export interface ParamDecl {
  kind: 'param';
  name: string;
  type: TensorTypeAst;
  /** An initialiser by name (`kaiming_uniform(a = …)`), or `from EXPR`: computed once at instantiation. */
  init: { name: string; args: Arg[]; from?: Expr; span: Span };
  trainable: boolean; // `frozen` or `buffer` make it false
  sharing: Sharing;
  /** `lr * ratio`: this parameter's learning rate is the optimiser's times ratio (LoRA+). */
  lrScale?: Expr;
  span: Span;
}

export interface LayerTypeAst {
  name: string; // Linear, LayerNorm, ...
  dims: DimExpr[];
  span: Span;
}

export interface LayerDecl {
  kind: 'layer';
  name: string;
  instance: { kind: 'builtin'; type: LayerTypeAst } | { kind: 'model'; model: string; args: Arg[]; span: Span };
  /** `with Adapter(args)`: an adapter attached to this (frozen) Linear layer. */
  adapter?: { name: string; args: Arg[]; span: Span };
  repeat?: Expr;
  span: Span;
}

export interface LetDecl {
  kind: 'let';
  name: string;
  value: Expr;
  span: Span;
}

export interface ValueParam {
  name: string;
  type: ValueTypeAst;
  span: Span;
}

export interface MethodDecl {
  kind: 'method';
  name: string;
  params: ValueParam[];
  returns?: ValueTypeAst;
  body: Expr;
  span: Span;
}

export type Member = ParamDecl | LayerDecl | LetDecl | MethodDecl;

export interface AdapterDecl {
  kind: 'adapter';
  name: string;
  hypers: HyperParam[];
  on: LayerTypeAst;
  /** `where k <= r, …`: Bool conditions on hyper-parameters and sizes. */
  constraints: Expr[];
  members: Member[];
  span: Span;
  /** The whole declaration (its text identifies it when several files declare the same name). */
  whole: Span;
}

export interface ModelDecl {
  kind: 'model';
  name: string;
  hypers: HyperParam[];
  constraints: Expr[];
  members: Member[];
  span: Span;
  /** The whole declaration (its text identifies it when several files declare the same name). */
  whole: Span;
}

export interface FnDecl {
  kind: 'fn';
  name: string;
  params: ValueParam[];
  returns?: ValueTypeAst;
  body: Expr;
  span: Span;
  /** The whole declaration (its text identifies it when several files declare the same name). */
  whole: Span;
}

export type Decl = AdapterDecl | ModelDecl | FnDecl;

/** `import "path"`: another file's declarations join this program (resolved by the file loader). */
export interface Import {
  path: string;
  span: Span;
}

export interface Program {
  file: string;
  source: string;
  imports: Import[];
  decls: Decl[];
}
