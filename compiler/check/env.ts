// What a name can mean while checking, and what the checker records about each expression for
// the stages after it (reference interpreter, lowering to IR).
import type * as A from '../syntax/ast.ts';
import type { Dim } from './dims.ts';
import type { Alignment, IndexVar, Ty } from './types.ts';

/** An adapter attached to a model's Linear layer (`layer q: Linear[D, D] with Lily(r = 8)`). */
export interface AttachedAdapter {
  decl: A.AdapterDecl;
  /** The adapter's Dim hyper-parameters and its `on Linear[In, Out]` names, in the model's dims. */
  dimArgs: Map<string, Dim>;
  hyperArgs: Map<string, A.Expr>;
}

/** A callable layer: the frozen base of an adapter, or a layer of a model. */
export type LayerInfo =
  | { kind: 'Linear'; name: string; inDim: Dim; outDim: Dim; adapter?: AttachedAdapter }
  | { kind: 'LayerNorm'; name: string; dim: Dim }
  | { kind: 'model'; name: string; model: A.ModelDecl; dimArgs: Map<string, Dim>; hyperArgs: Map<string, A.Expr>; repeat?: A.Expr };

export type Binding =
  | { kind: 'value'; ty: Ty; origin: 'param' | 'input' | 'let' | 'hyper' | 'dim' | 'member' | 'mode' }
  | { kind: 'layer'; layer: LayerInfo }
  | { kind: 'fn'; decl: A.FnDecl }
  | { kind: 'idx'; v: IndexVar };

export class Scope {
  private readonly names = new Map<string, Binding>();
  readonly dims: Set<string>;
  constructor(
    readonly parent?: Scope,
    dims?: Set<string>,
  ) {
    this.dims = dims ?? new Set(parent?.dims);
  }
  bind(name: string, b: Binding): void {
    this.names.set(name, b);
  }
  lookup(name: string): Binding | undefined {
    return this.names.get(name) ?? this.parent?.lookup(name);
  }
  child(): Scope {
    return new Scope(this, new Set(this.dims));
  }
  /** Every name visible here, for "did you mean" hints. */
  visible(): string[] {
    return [...new Set([...this.names.keys(), ...(this.parent?.visible() ?? []), ...this.dims])];
  }
}

/** Resolution of one index item of `x[...]`. */
export type IndexRes = { kind: 'all' } | { kind: 'int'; expr: A.Expr } | { kind: 'idx'; v: IndexVar } | { kind: 'slice'; lo: Dim; hi: Dim; axisSize: Dim };

/** What later stages need to know about an expression, beyond its type. */
export interface ExprInfo {
  ty: Ty;
  binding?: Binding; // for variables
  align?: Alignment; // elementwise binary ops: how operand axes map to output axes
  axes?: number[]; // reductions/softmax: positions in the (non-index) shape
  shape?: Dim[]; // reshape/broadcast/zeros/ones/eye: target shape
  perm?: number[]; // permute
  maps?: number[][]; // where/maximum/minimum: for each operand, where its axes land in info.shape
  indexVar?: IndexVar; // comprehension `sum[e](...)`
  index?: IndexRes[]; // indexing
  layer?: LayerInfo; // layer calls
  fn?: A.FnDecl; // user function calls
  builtin?: string; // builtin calls
}
