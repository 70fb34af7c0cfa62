// The IR: a hash-consed graph of primitive applications with concrete shapes. Building the same
// operation on the same inputs twice yields the same node, so common subexpressions are shared
// by construction (CSE); dead nodes are dropped by rebuilding from the outputs (DCE).
import type { Span } from '../syntax/ast.ts';
import { primitive } from './prim.ts';

export type Id = number;
export type Attrs = Record<string, unknown>;

export interface Node {
  id: Id;
  op: string;
  inputs: Id[];
  attrs: Attrs;
  shape: number[];
  /** Where in the user's program this node came from (first builder wins). */
  loc?: Span;
}

export class Graph {
  readonly nodes: Node[] = [];
  private readonly memo = new Map<string, Id>();
  /** Named results: 'y' (forward output), 'grad:A', ... */
  readonly outputs = new Map<string, Id>();
  /** Names the program gave to values (let-bound), for messages. */
  readonly names = new Map<Id, string>();
  /** Current source location, attached to nodes created while it is set. */
  loc?: Span;

  node(id: Id): Node {
    return this.nodes[id];
  }

  add(op: string, inputs: Id[], attrs: Attrs = {}): Id {
    const prim = primitive(op);
    const norm = prim.normalize ? prim.normalize(this, inputs, attrs) : undefined;
    if (norm !== undefined) return norm;
    const key = `${op}|${inputs.join(',')}|${attrsText(attrs)}`;
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    const shape = prim.shape(inputs.map((i) => this.nodes[i].shape), attrs);
    const id = this.nodes.length;
    this.nodes.push({ id, op, inputs, attrs, shape, loc: this.loc });
    this.memo.set(key, id);
    return id;
  }

  shape(id: Id): number[] {
    return this.nodes[id].shape;
  }

  /** Nodes reachable from the outputs, in topological order. */
  live(roots: Id[] = [...this.outputs.values()]): Id[] {
    // Iterative DFS (graphs of real models are deep enough to overflow recursion): a node is
    // listed after all its inputs, inputs in order. The stack holds (node, next input) pairs in
    // two typed arrays: this runs on every rebuild and every FLOP count.
    const n = this.nodes.length;
    const seen = new Uint8Array(n);
    const order: Id[] = [];
    const nodeStack = new Int32Array(n + 1);
    const nextStack = new Int32Array(n + 1);
    for (const r of roots) {
      if (seen[r]) continue;
      let top = 0;
      nodeStack[0] = r;
      nextStack[0] = 0;
      seen[r] = 1;
      while (top >= 0) {
        const id = nodeStack[top];
        const ins = this.nodes[id].inputs;
        const i = nextStack[top];
        if (i < ins.length) {
          nextStack[top] = i + 1;
          const c = ins[i];
          if (!seen[c]) {
            seen[c] = 1;
            top++;
            nodeStack[top] = c;
            nextStack[top] = 0;
          }
        } else {
          top--;
          order.push(id);
        }
      }
    }
    return order;
  }

  /** Number of live consumers of each node. */
  uses(roots?: Id[]): Map<Id, number> {
    const u = new Map<Id, number>();
    for (const id of this.live(roots)) for (const i of this.nodes[id].inputs) u.set(i, (u.get(i) ?? 0) + 1);
    for (const r of roots ?? this.outputs.values()) u.set(r, (u.get(r) ?? 0) + 1);
    return u;
  }
}

// Rebuilding a graph adds every node again with the same attrs object, so each object's text is
// computed once. Attrs are never changed after a node is built (nodes are values).
const attrsTexts = new WeakMap<object, string>();

/** stableJson of a node's attrs, remembered by object. */
export function attrsText(attrs: Attrs): string {
  let t = attrsTexts.get(attrs);
  if (t === undefined) attrsTexts.set(attrs, (t = stableJson(attrs)));
  return t;
}

/** JSON-like text of a value with object keys sorted: equal values, equal text (the hash-consing key of attrs). */
export function stableJson(v: unknown): string {
  // Every node added builds one, so this is written without intermediate arrays; it returns the
  // same text as `[${v.map(stableJson)}]` / `{k:…}` over the sorted keys with undefined values left out.
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + (stableJson(v[i]) ?? '');
    return `${s}]`;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length > 1) keys.sort();
  let s = '{';
  let first = true;
  for (const k of keys) {
    const x = o[k];
    if (x === undefined) continue;
    s += `${first ? '' : ','}${k}:${stableJson(x)}`;
    first = false;
  }
  return `${s}}`;
}
