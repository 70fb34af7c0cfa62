// The IR: a hash-consed graph of primitive applications with concrete shapes. Building the same
// operation on the same inputs twice yields the same node, so common subexpressions are shared
// by construction (CSE); dead nodes are dropped by rebuilding from the outputs (DCE).
import type { Span } from '../syntax/ast.ts';
import { primitive, type Prim } from './prim.ts';

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

/** The attrs of a node built without any (shared: attrs are never changed). */
const NO_ATTRS: Attrs = Object.freeze({});

export class Graph {
  readonly nodes: Node[] = [];
  // Hash-consing: an open hash table of node ids by a hash of (op, attrs, inputs), chained through
  // the nodes (typed arrays, not a Map of buckets: every node of every rebuild is looked up here,
  // and a Map's entries were a large part of each rebuild's garbage).
  /** first node id of each bucket, -1 when empty (length: a power of two; small to start with: the contract stage builds hundreds of graphs of a few nodes) */
  private buckets = new Int32Array(16).fill(-1);
  /** per node: its hash and the next node id in its bucket (-1 ends the chain) */
  private hashes = new Int32Array(16);
  private chain = new Int32Array(16);
  /** per node: its attrs' text and hash (what copyOf reuses) */
  private readonly entries: AttrsEntry[] = [];
  /** Named results: 'y' (forward output), 'grad:A', ... */
  readonly outputs = new Map<string, Id>();
  /** Names the program gave to values (let-bound), for messages. */
  readonly names = new Map<Id, string>();
  /** Current source location, attached to nodes created while it is set. */
  loc?: Span;

  node(id: Id): Node {
    return this.nodes[id];
  }

  /** The node (op, inputs, attrs), built or found. */
  add(op: string, inputs: Id[], attrs: Attrs = NO_ATTRS): Id {
    const prim = primitive(op);
    const norm = prim.normalize ? prim.normalize(this, inputs, attrs) : undefined;
    if (norm !== undefined) return norm;
    return this.enter(prim, op, inputs, attrs, attrsEntry(attrs), undefined);
  }

  /**
   * Node `n` of graph `from` again, on `inputs`: the images of its inputs, of the same shapes (a
   * rebuild). Its shape and its attrs' key are known already, so neither is worked out again.
   */
  copyOf(from: Graph, n: Node, inputs: Id[]): Id {
    const prim = primitive(n.op);
    const norm = prim.normalize && !(prim.normalOnOrder && sameOrder(n.inputs, inputs)) ? prim.normalize(this, inputs, n.attrs) : undefined;
    if (norm !== undefined) return norm;
    return this.enter(prim, n.op, inputs, n.attrs, from.entries[n.id], n.shape);
  }

  /** The node, found by its key or built: (op, attrs text, inputs), compared field by field within a hash bucket (no key string is built). */
  private enter(prim: Prim, op: string, inputs: Id[], attrs: Attrs, a: AttrsEntry, shape: number[] | undefined): Id {
    const text = a.text;
    let h = mix(hashOf(op), a.hash);
    for (let k = 0; k < inputs.length; k++) h = mix(h, inputs[k]);
    const hashes = this.hashes;
    for (let id = this.buckets[h & (this.buckets.length - 1)]; id >= 0; id = this.chain[id]) if (hashes[id] === (h | 0) && this.same(id, op, inputs, attrs, text)) return id;
    if (shape === undefined) {
      const shapes = new Array<number[]>(inputs.length);
      for (let k = 0; k < inputs.length; k++) shapes[k] = this.nodes[inputs[k]].shape;
      shape = prim.shape(shapes, attrs);
    }
    const id = this.nodes.length;
    this.nodes.push({ id, op, inputs, attrs, shape, loc: this.loc });
    this.entries.push(a);
    this.remember(id, h);
    return id;
  }

  /** Enter node `id` with hash `h` in the table, growing it to keep buckets short. */
  private remember(id: Id, h: number): void {
    if (id >= this.hashes.length) {
      const size = this.hashes.length * 2;
      const hashes = new Int32Array(size);
      hashes.set(this.hashes);
      this.hashes = hashes;
      const chain = new Int32Array(size);
      chain.set(this.chain);
      this.chain = chain;
    }
    this.hashes[id] = h;
    if (id >= this.buckets.length >> 1) {
      // at most two nodes per bucket on average: double and re-enter every node
      const buckets = new Int32Array(this.buckets.length * 2).fill(-1);
      const mask = buckets.length - 1;
      for (let k = 0; k < id; k++) {
        const b = this.hashes[k] & mask;
        this.chain[k] = buckets[b];
        buckets[b] = k;
      }
      this.buckets = buckets;
    }
    const b = h & (this.buckets.length - 1);
    this.chain[id] = this.buckets[b];
    this.buckets[b] = id;
  }

  /** Whether node `id` is the application (op, inputs, attrs with this text). */
  private same(id: Id, op: string, inputs: Id[], attrs: Attrs, text: string): boolean {
    const n = this.nodes[id];
    if (n.op !== op || n.inputs.length !== inputs.length) return false;
    for (let k = 0; k < inputs.length; k++) if (n.inputs[k] !== inputs[k]) return false;
    return n.attrs === attrs || this.entries[id].text === text;
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
    // (the stacks are scratch space shared by every call: live never calls itself)
    if (liveStacks.nodes.length < n + 1) liveStacks = { nodes: new Int32Array(2 * n + 64), next: new Int32Array(2 * n + 64) };
    const nodeStack = liveStacks.nodes;
    const nextStack = liveStacks.next;
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

/** Whether `b` lists its ids in the same order as `a` (each step up, down or level alike). */
function sameOrder(a: Id[], b: Id[]): boolean {
  for (let k = 1; k < a.length; k++) if (Math.sign(a[k] - a[k - 1]) !== Math.sign(b[k] - b[k - 1])) return false;
  return true;
}

/** live()'s DFS stacks, grown as graphs grow. */
let liveStacks = { nodes: new Int32Array(0), next: new Int32Array(0) };

// 32-bit FNV-1a-style mixing for the hash-consing key (collisions only cost a comparison).
const mix = (h: number, x: number) => Math.imul(h ^ x, 16777619) >>> 0;
function mixString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
const opHashes = new Map<string, number>();
function hashOf(op: string): number {
  let h = opHashes.get(op);
  if (h === undefined) opHashes.set(op, (h = mixString(2166136261, op)));
  return h;
}

// Rebuilding a graph adds every node again with the same attrs object, so each object's text is
// computed once. Attrs are never changed after a node is built (nodes are values).
// Kept on the attrs object itself (a non-enumerable symbol: invisible to JSON, spreads and
// Object.keys), read back as a plain property; objects that cannot take it use the map.
const ATTRS_KEY = Symbol('attrs text and hash');
interface AttrsEntry {
  text: string;
  hash: number;
}
const attrsTexts = new WeakMap<object, AttrsEntry>();

function attrsEntry(attrs: Attrs): AttrsEntry {
  const own = (attrs as { [ATTRS_KEY]?: AttrsEntry })[ATTRS_KEY];
  if (own !== undefined) return own;
  let e = attrsTexts.get(attrs);
  if (e === undefined) {
    const text = stableJson(attrs);
    e = { text, hash: mixString(2166136261, text) };
    if (Object.isExtensible(attrs)) Object.defineProperty(attrs, ATTRS_KEY, { value: e });
    else attrsTexts.set(attrs, e);
  }
  return e;
}

/** stableJson of a node's attrs, remembered by object. */
export const attrsText = (attrs: Attrs): string => attrsEntry(attrs).text;

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
  let sorted = true;
  for (let i = 1; sorted && i < keys.length; i++) sorted = keys[i - 1] < keys[i];
  if (!sorted) keys.sort();
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
