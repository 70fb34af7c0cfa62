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

/** Each live node's consumers (a node using a value twice is listed twice), as offsets into one list. */
export interface Consumers {
  start: Int32Array;
  list: Int32Array;
}

export function consumersOf(src: Graph): Consumers {
  const live = src.live();
  const start = new Int32Array(src.nodes.length + 1);
  for (const id of live) for (const i of src.node(id).inputs) start[i + 1]++;
  for (let i = 0; i < src.nodes.length; i++) start[i + 1] += start[i];
  const list = new Int32Array(start[src.nodes.length]);
  const fill = start.slice(0, src.nodes.length);
  for (const id of live) for (const i of src.node(id).inputs) list[fill[i]++] = id;
  return { start, list };
}

/**
 * The region's nodes as a graph of their own: inputs from outside become placeholder inputs
 * (constants and broadcasts are copied, as merging absorbs them), and a node is an output when
 * anything outside the region (or the program's outputs) uses it. Placeholders and outputs are
 * named by their place in the subgraph, not by source ids, so the same block repeated (a model's
 * layers) gives the same subgraph (RegionKeys says so without building it). `edges` maps an edge
 * set of the source graph onto the subgraph's ids.
 */
export function regionSubgraph(src: Graph, region: string[], consumers: Consumers, outputs: Set<Id>) {
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
  for (const id of members) if (isRegionOutput(id, (c) => members.has(c), consumers, outputs)) g.outputs.set(`#${map.get(id)}`, map.get(id)!);
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
function isRegionOutput(id: Id, member: (id: Id) => boolean, consumers: Consumers, outputs: Set<Id>): boolean {
  if (outputs.has(id)) return true;
  for (let k = consumers.start[id]; k < consumers.start[id + 1]; k++) if (!member(consumers.list[k])) return true;
  return false;
}

/**
 * Regions met before, found by their description: the region and its inlining options read off
 * the source graph in the order regionSubgraph copies it (nodes numbered as they are copied,
 * placeholders by shape, then the outputs and each option's edges in those numbers). Equal
 * descriptions, the same subgraph and options, so the same choice. A description is a list of
 * numbers written into one scratch buffer (every record tagged and counted, so it reads back one
 * way); only the first region of each kind is kept, with its choice. (Every region of every
 * compile is described: numbers, not a string per node.)
 */
class RegionKeys {
  private buf = new Int32Array(1024);
  private len = 0;
  private readonly local: Int32Array;
  private readonly seen: Int32Array; // seen[id] === stamp: node id is numbered (local) in this description
  private readonly member: Int32Array; // member[id] === stamp: node id is in the region
  private stamp = 0;
  private readonly known = new Map<number, { desc: Int32Array; choice: number }[]>();
  private hash = 0;
  /** op names and attrs texts as small numbers */
  private readonly texts = new Map<string, number>();

  constructor(
    private readonly src: Graph,
    private readonly consumers: Consumers,
    private readonly outputs: Set<Id>,
  ) {
    const n = src.nodes.length;
    this.local = new Int32Array(n);
    this.seen = new Int32Array(n);
    this.member = new Int32Array(n);
  }

  private textId(text: string): number {
    let id = this.texts.get(text);
    if (id === undefined) this.texts.set(text, (id = this.texts.size));
    return id;
  }

  private put(x: number): void {
    if (this.len === this.buf.length) {
      const bigger = new Int32Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.len++] = x;
  }

  /** Describe a region with its options (then find or remember its choice). */
  describe(region: string[], options: string[][]): void {
    const stamp = ++this.stamp;
    this.len = 0;
    const { src, member, seen, local } = this;
    const members: Id[] = []; // in the order regionSubgraph lists them (its outputs' order)
    for (const e of region)
      for (const id of endpoints(e))
        if (member[id] !== stamp) {
          member[id] = stamp;
          members.push(id);
        }
    let count = 0;
    const visit = (id: Id): number => {
      if (seen[id] === stamp) return local[id];
      const n = src.node(id);
      if (member[id] === stamp || absorbed(n.op)) {
        const ins = n.inputs.map(visit);
        this.put(1);
        this.put(this.textId(n.op));
        this.put(this.textId(attrsText(n.attrs)));
        this.put(ins.length);
        for (const i of ins) this.put(i);
      } else {
        this.put(2);
        this.put(n.shape.length);
        for (const d of n.shape) this.put(d);
      }
      seen[id] = stamp;
      local[id] = count;
      return count++;
    };
    for (const id of [...members].sort((a, b) => a - b)) visit(id);
    const outs = members.filter((id) => isRegionOutput(id, (c) => member[c] === stamp, this.consumers, this.outputs));
    this.put(3);
    this.put(outs.length);
    for (const id of outs) this.put(local[id]);
    for (const option of options) {
      const pairs = option.map((e) => {
        const [c, o] = endpoints(e);
        return local[c] * 2 ** 26 + local[o];
      });
      pairs.sort((a, b) => a - b);
      this.put(4);
      this.put(pairs.length);
      for (const pair of pairs) {
        this.put(Math.floor(pair / 2 ** 26));
        this.put(pair % 2 ** 26);
      }
    }
    let h = 2166136261;
    for (let i = 0; i < this.len; i++) h = Math.imul(h ^ this.buf[i], 16777619);
    this.hash = h >>> 0;
  }

  /** The choice made for a region described as the last one was, if any. */
  find(): number | undefined {
    const same = this.known.get(this.hash);
    if (same)
      for (const k of same) {
        if (k.desc.length !== this.len) continue;
        let equal = true;
        for (let i = 0; equal && i < this.len; i++) equal = k.desc[i] === this.buf[i];
        if (equal) return k.choice;
      }
    return undefined;
  }

  /** Remember the choice for the region described last. */
  remember(choice: number): void {
    const entry = { desc: this.buf.slice(0, this.len), choice };
    const same = this.known.get(this.hash);
    if (same) same.push(entry);
    else this.known.set(this.hash, [entry]);
  }
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
  const consumers = consumersOf(src);
  const outputs = new Set(src.outputs.values());
  const plan = new Set<string>();
  const keys = new RegionKeys(src, consumers, outputs);
  for (const region of regionsOf(aggressive)) {
    const options = [[], region.filter((e) => conservative.has(e)), region];
    keys.describe(region, options);
    let pick = keys.find();
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
      keys.remember((pick = best!.option));
    }
    for (const e of options[pick]) plan.add(e);
  }
  return plan;
}
