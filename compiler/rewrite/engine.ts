// The rewrite engine: rebuilds a graph node by node (topological order) into a fresh graph,
// offering each rebuilt node to the rules registered for its op, until none fires. Rules are data
// (records in tables, see rules-*.ts). Rebuilding from the outputs also does DCE; hash-consing in
// the new graph does CSE.
import { Graph, type Id, type Node } from '../ir/graph.ts';
import type { LeafAxes } from '../ir/axis-names.ts';

export interface RuleContext {
  /** The graph being built. */
  g: Graph;
  /** Old-graph facts a rule may need, looked up by new id. */
  facts: Map<Id, Record<string, unknown>>;
  /** Applied rewrites, for --explain. */
  log: RewriteLog[];
  /** A readable name for an index of a given size (a dimension's name), for messages. */
  dimLabel?: (size: number) => string | undefined;
  /** The declared dimension names of the leaves' axes: indices are named by these first. */
  leafAxes?: LeafAxes;
}

export interface RewriteLog {
  rule: string;
  loc?: Node['loc'];
  detail?: string;
  [k: string]: unknown;
}

export interface Rule {
  name: string;
  doc: string;
  /** The op this rule looks at ('*' for any). */
  op: string;
  apply(node: Node, ctx: RuleContext): Id | undefined;
}

const MAX_STEPS = 64;

export function rebuild(
  src: Graph,
  rules: Rule[],
  opts: { facts?: (oldId: Id, newId: Id, ctx: RuleContext) => void; log?: RewriteLog[]; ctx?: Partial<RuleContext>; onMap?: (mapped: (oldId: Id) => Id | undefined) => void } = {},
): { graph: Graph; map: (oldId: Id) => Id | undefined; log: RewriteLog[]; facts: Map<Id, Record<string, unknown>> } {
  const g = new Graph();
  // (one object shape for every rebuild: rules read ctx.g on every node)
  const ctx: RuleContext = { g, facts: new Map(), log: opts.log ?? [], dimLabel: opts.ctx?.dimLabel, leafAxes: opts.ctx?.leafAxes };
  const byOp = new Map<string, Rule[]>();
  for (const r of rules) byOp.set(r.op, [...(byOp.get(r.op) ?? []), r]);
  // each op's rules, then the rules for any op: built once per op, not per node and step
  const forOp = new Map<string, Rule[]>();
  const rulesFor = (op: string) => {
    let rs = forOp.get(op);
    if (!rs) forOp.set(op, (rs = [...(byOp.get(op) ?? []), ...(byOp.get('*') ?? [])]));
    return rs;
  };
  // old id → new id, -1 before it is rebuilt (a typed array: every node's inputs are looked up here)
  const newId = new Int32Array(src.nodes.length).fill(-1);
  const map = (old: Id): Id | undefined => (newId[old] >= 0 ? newId[old] : undefined);
  const rebuilt = (old: Id): Id => newId[old];
  opts.onMap?.(map);
  const simplify = (id: Id): Id => {
    for (let step = 0; step < MAX_STEPS; step++) {
      const node = g.node(id);
      let next: Id | undefined;
      g.loc = node.loc;
      for (const r of rulesFor(node.op)) {
        next = r.apply(node, ctx);
        if (next !== undefined && next !== id) break;
        next = undefined;
      }
      if (next === undefined) return id;
      id = next;
    }
    throw new Error(`internal: rewrite rules did not settle on node ${id} after ${MAX_STEPS} steps`);
  };
  for (const old of src.live()) {
    const n = src.node(old);
    g.loc = n.loc;
    const ins = n.inputs;
    const inputs = ins.map(rebuilt); // (exactly sized)
    const raw = g.copyOf(src, n, inputs);
    opts.facts?.(old, raw, ctx);
    const id = simplify(raw);
    // The rewritten node stands for the same old node: it inherits facts it did not set itself.
    if (id !== raw) {
      const inherited = ctx.facts.get(raw);
      if (inherited) ctx.facts.set(id, { ...inherited, ...ctx.facts.get(id) });
    }
    newId[old] = id;
    const name = src.names.get(old);
    if (name && !g.names.has(id)) g.names.set(id, name);
  }
  for (const [name, id] of src.outputs) g.outputs.set(name, newId[id]);
  g.loc = undefined;
  return { graph: g, map, log: ctx.log, facts: ctx.facts };
}

/**
 * Whether no rule changes any live node of `g`. Then `rebuild(g, rules)` is `g` again, renumbered
 * (einsum operands and add's may be listed in another order, which changes no FLOP count: no two
 * nodes become one), so its FLOPs are `g`'s and the rebuild can be skipped where only they are
 * wanted. A rule that fires may have added nodes to `g` (dead ones: `live` does not see them).
 */
export function settled(g: Graph, rules: Rule[]): boolean {
  const ctx: RuleContext = { g, facts: new Map(), log: [], dimLabel: undefined, leafAxes: undefined };
  const forOp = new Map<string, Rule[]>();
  for (const id of g.live()) {
    const node = g.node(id);
    let rs = forOp.get(node.op);
    if (!rs) forOp.set(node.op, (rs = rules.filter((r) => r.op === node.op || r.op === '*')));
    for (const r of rs) {
      const next = r.apply(node, ctx);
      if (next !== undefined && next !== id) return false;
    }
  }
  return true;
}

/** Sum of FLOPs over the live nodes reachable from the given roots (default: all outputs). */
import { primitive } from '../ir/prim.ts';
export function graphFlops(g: Graph, roots?: Id[], exclude: Set<Id> = new Set()): number {
  let total = 0;
  for (const id of g.live(roots)) if (!exclude.has(id)) total += primitive(g.node(id).op).flops(g.node(id), g);
  return total;
}
