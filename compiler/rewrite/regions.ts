// Inlining chosen per region. A region is a connected set of inlining edges (consumer:operand) of
// the aggressive plan: the sums of products that would share operands once merged (a forward net
// and the gradient nets that recompute its values). Each region is judged on its own subgraph —
// the region's nodes, with their other inputs as placeholders and every value still needed
// outside the region kept as an output — so one costly region cannot veto a good one (issue 13:
// the MLP backward under aggressive inlining hid Lily's expert fold at the whole-model sizes).
import { attrsText, Graph, type Id } from '../ir/graph.ts';
import { contractOrders, type Tree } from './contract.ts';
import { graphFlops, rebuild, settled } from './engine.ts';
import { inliningPlans, mergeSumsOfProducts, type InlinePolicy } from './merge.ts';
import { SIMPLIFY_RULES } from './rules-simplify.ts';

// An edge 'consumer:operand' as its two ids; every region walk reads these, so each is split once.
const parsedEdges = new Map<string, [Id, Id]>();
const endpoints = (edge: string): [Id, Id] => {
  let e = parsedEdges.get(edge);
  if (!e) {
    const at = edge.indexOf(':');
    e = [Number(edge.slice(0, at)), Number(edge.slice(at + 1))];
    if (parsedEdges.size > 100_000) parsedEdges.clear();
    parsedEdges.set(edge, e);
  }
  return e;
};
/** The nodes an edge set touches. */
const membersOf = (region: string[]): Set<Id> => {
  const members = new Set<Id>();
  for (const e of region) {
    const [c, o] = endpoints(e);
    members.add(c).add(o);
  }
  return members;
};

/** The connected components of a set of 'consumer:operand' edges (joined by shared nodes). */
export function regionsOf(edges: Set<string>): string[][] {
  const parent = new Map<Id, Id>();
  const find = (x: Id): Id => {
    let r = x;
    while (parent.get(r)! !== r) r = parent.get(r)!;
    parent.set(x, r);
    return r;
  };
  for (const e of edges) {
    const [c, o] = endpoints(e);
    if (!parent.has(c)) parent.set(c, c);
    if (!parent.has(o)) parent.set(o, o);
    parent.set(find(c), find(o));
  }
  const byRoot = new Map<Id, string[]>();
  for (const e of edges) {
    const r = find(endpoints(e)[0]);
    const list = byRoot.get(r);
    if (list) list.push(e);
    else byRoot.set(r, [e]);
  }
  return [...byRoot.values()];
}

/**
 * The region's nodes as a graph of their own: inputs from outside become placeholder inputs
 * (constants and broadcasts are copied, as merging absorbs them), and a node is an output when
 * anything outside the region (or the program's outputs) uses it. Placeholders and outputs are
 * named by their place in the subgraph, not by source ids, so the same block repeated (a model's
 * layers) gives the same subgraph (regionKey says so without building it). `edges` maps an edge
 * set of the source graph onto the subgraph's ids.
 */
export function regionSubgraph(src: Graph, region: string[], consumers: Map<Id, Id[]>, outputs: Set<Id>) {
  const members = membersOf(region);
  const g = new Graph();
  const map = new Map<Id, Id>();
  let placeholders = 0;
  const copy = (id: Id): Id => {
    const hit = map.get(id);
    if (hit !== undefined) return hit;
    const n = src.node(id);
    const made = members.has(id) || absorbed(n.op) ? g.add(n.op, n.inputs.map(copy), n.attrs) : g.add('input', [], { name: `#${placeholders++}`, shape: n.shape });
    map.set(id, made);
    return made;
  };
  for (const id of [...members].sort((a, b) => a - b)) copy(id);
  for (const id of members) if (isRegionOutput(id, members, consumers, outputs)) g.outputs.set(`#${map.get(id)}`, map.get(id)!);
  const edges = (plan: Iterable<string>) =>
    new Set(
      [...plan].map((e) => {
        const [c, o] = endpoints(e);
        return `${map.get(c)}:${map.get(o)}`;
      }),
    );
  return { graph: g, edges };
}

const absorbed = (op: string) => op === 'const' || op === 'broadcast';
function isRegionOutput(id: Id, members: Set<Id>, consumers: Map<Id, Id[]>, outputs: Set<Id>): boolean {
  if (outputs.has(id)) return true;
  const users = consumers.get(id);
  if (users) for (const c of users) if (!members.has(c)) return true;
  return false;
}

/**
 * The region and its inlining options as a string, read off the source graph in the order
 * regionSubgraph copies it (nodes numbered as they are copied, placeholders by shape): equal
 * strings, the same subgraph and options, so the same choice.
 */
export function regionKey(src: Graph, region: string[], options: string[][], consumers: Map<Id, Id[]>, outputs: Set<Id>): string {
  const members = membersOf(region);
  const local = new Map<Id, number>();
  const parts: string[] = [];
  const visit = (id: Id): number => {
    const hit = local.get(id);
    if (hit !== undefined) return hit;
    const n = src.node(id);
    const part = members.has(id) || absorbed(n.op) ? `${n.op}|${n.inputs.map(visit).join(',')}|${attrsText(n.attrs)}` : `#|${n.shape.join(',')}`;
    local.set(id, parts.length);
    parts.push(part);
    return parts.length - 1;
  };
  for (const id of [...members].sort((a, b) => a - b)) visit(id);
  const outs = [...members].filter((id) => isRegionOutput(id, members, consumers, outputs)).map((id) => local.get(id));
  const edges = options.map((option) =>
    option
      .map((e) => endpoints(e).map((id) => local.get(id)).join(':'))
      .sort()
      .join(' '),
  );
  return `${parts.join(';')}=>${outs.join(',')}#${edges.join('|')}`;
}

/** FLOPs of a graph after merging along `edges`, ordering every sum of products, and simplifying. */
export function contractedFlops(g: Graph, edges: Set<string>, orders?: Map<string, Tree>): number {
  const merged = mergeSumsOfProducts(g, edges);
  const contracted = contractOrders(merged.graph, undefined, {}, [], { explain: false, orders }).graph; // (facts only feed the log)
  return graphFlops(settled(contracted, SIMPLIFY_RULES) ? contracted : rebuild(contracted, SIMPLIFY_RULES).graph);
}

/**
 * The inlining plan chosen region by region: for each region, its aggressive edges, its
 * conservative edges or none, whichever makes the region's subgraph cheapest (ties: fewer edges).
 * A region whose subgraph and options were costed already (the same block again) takes that
 * choice without costing it again; `orders` remembers contraction orders across all of it.
 */
export function planPerRegion(src: Graph, orders: Map<string, Tree> = new Map(), stats?: { regions: number; costed: number }, plans: Record<InlinePolicy, Set<string>> = inliningPlans(src)): Set<string> {
  const { aggressive, conservative } = plans;
  const consumers = new Map<Id, Id[]>();
  for (const id of src.live())
    for (const i of src.node(id).inputs) {
      const list = consumers.get(i);
      if (list) list.push(id);
      else consumers.set(i, [id]);
    }
  const outputs = new Set(src.outputs.values());
  const plan = new Set<string>();
  const chosen = new Map<string, number>();
  for (const region of regionsOf(aggressive)) {
    const options = [[], region.filter((e) => conservative.has(e)), region];
    const key = regionKey(src, region, options, consumers, outputs);
    let pick = chosen.get(key);
    if (stats) stats.regions++;
    if (pick === undefined) {
      if (stats) stats.costed++;
      const sub = regionSubgraph(src, region, consumers, outputs);
      let best: { option: number; flops: number } | undefined;
      for (let option = 0; option < options.length; option++) {
        if (best && options[option].length === options[best.option].length) continue; // the same option again
        const flops = contractedFlops(sub.graph, sub.edges(options[option]), orders);
        if (!best || flops < best.flops) best = { option, flops };
      }
      chosen.set(key, (pick = best!.option));
    }
    for (const e of options[pick]) plan.add(e);
  }
  return plan;
}
