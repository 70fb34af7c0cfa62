// The contraction-order optimiser: every einsum of three or more operands is split into a tree
// of pairwise einsums, the cheapest by a FLOP-and-memory cost model — optimal (dynamic programming
// over subsets) up to 10 operands, greedy beyond (as opt_einsum). The Lily rewrite
// Σ_e p[e]·(h @ B[e]) → h @ (Σ_e p[e]·B[e]) is one outcome of this rule, not a rule of its own;
// so is its refusal when p carries the token axis.
import type { Graph, Id, Node } from '../ir/graph.ts';
import { einsumFlops, indexSizes, lettersAmong, parseSpec, specAttrs } from '../ir/prims/einsum.ts';
import { letterNames } from '../ir/axis-names.ts';
import { primitive } from '../ir/prim.ts';
import { rebuild, type RewriteLog, type Rule, type RuleContext } from './engine.ts';
import { naiveOf } from './merge.ts';
import { describeNet, expertFolds, tokenLetters } from './explain-net.ts';
import { MAX_OPERANDS } from './limits.ts';

/** Weight of one element of an intermediate result against one FLOP (memory traffic). */
export const MEMORY_WEIGHT = 1;
const OPTIMAL_LIMIT = 10;

export interface Tree {
  mask: number;
  letters: string; // indices of the intermediate (for the root: the output order)
  cost: number; // total cost of the subtree
  flops: number; // total FLOPs of the subtree
  left?: Tree;
  right?: Tree;
}

export interface Net {
  subs: string[];
  out: string;
  sizes: Map<string, number>;
}

const popcount = (m: number) => {
  let c = 0;
  for (; m; m &= m - 1) c++;
  return c;
};

/** Each letter of a net (sorted by code unit) with the operands that carry it and whether the output does. */
interface LetterUse {
  letters: string[];
  operands: number[];
  inOut: boolean[];
}
const letterUses = new WeakMap<Net, LetterUse>();

function letterUseOf(net: Net): LetterUse {
  let u = letterUses.get(net);
  if (u) return u;
  const byLetter = new Map<string, number>();
  net.subs.forEach((sub, i) => {
    for (const c of sub) byLetter.set(c, (byLetter.get(c) ?? 0) | (1 << i));
  });
  const letters = [...byLetter.keys()].sort();
  u = { letters, operands: letters.map((c) => byLetter.get(c)!), inOut: letters.map((c) => net.out.includes(c)) };
  letterUses.set(net, u);
  return u;
}

/** Letters of the operands in `mask` that are still needed outside it (other operands or output), sorted. */
function keptLetters(net: Net, mask: number, full: number): string {
  if (mask === full) return net.out;
  // (the DP asks this of every subset: read off per-letter operand masks, nothing built but the answer)
  const u = letterUseOf(net);
  let kept = '';
  for (let k = 0; k < u.letters.length; k++) {
    const ops = u.operands[k];
    if (ops & mask && (ops & ~mask || u.inOut[k])) kept += u.letters[k];
  }
  return kept;
}

function pairCost(net: Net, a: Tree, b: Tree, letters: string) {
  const spec = { ins: [a.letters, b.letters], out: letters };
  const flops = einsumFlops(spec, net.sizes);
  let size = 1;
  for (const c of letters) size *= net.sizes.get(c)!;
  return { flops, cost: flops + MEMORY_WEIGHT * size };
}

/**
 * Operand i as a leaf of the tree; if it has indices no other operand or the output needs, they
 * are summed out first (a unary contraction, cheap) rather than carried into a pair.
 */
export function leafTree(net: Net, i: number): Tree {
  const full = (1 << net.subs.length) - 1;
  const leaf: Tree = { mask: 1 << i, letters: net.subs[i], cost: 0, flops: 0 };
  const kept = net.subs.length === 1 ? net.out : keptLetters(net, 1 << i, full);
  if ([...new Set(net.subs[i])].length === kept.length) return leaf;
  const flops = [...net.subs[i]].reduce((p, c) => p * net.sizes.get(c)!, 1);
  const size = [...kept].reduce((p, c) => p * net.sizes.get(c)!, 1);
  return { mask: 1 << i, letters: kept, cost: flops + MEMORY_WEIGHT * size, flops, left: leaf };
}

export function optimalOrder(net: Net): Tree {
  const n = net.subs.length;
  if (n > MAX_OPERANDS) throw new Error(`internal: a sum of products of ${n} operands exceeds the optimiser's ${MAX_OPERANDS}`);
  const full = (1 << n) - 1;
  if (n > OPTIMAL_LIMIT) return greedyOrder(net);
  if (letterUseOf(net).letters.length <= 30 && [...net.sizes.values()].reduce((p, d) => p * d, 1) <= Number.MAX_SAFE_INTEGER) return optimalOrderByBits(net);
  return optimalOrderGeneral(net);
}

/** The dynamic programme over subsets with letter strings (any number of letters, any sizes). */
export function optimalOrderGeneral(net: Net): Tree {
  const n = net.subs.length;
  const full = (1 << n) - 1;
  const best = new Map<number, Tree>();
  for (let i = 0; i < n; i++) best.set(1 << i, leafTree(net, i));
  for (let size = 2; size <= n; size++)
    for (let mask = 1; mask <= full; mask++) {
      if (popcount(mask) !== size) continue;
      const letters = keptLetters(net, mask, full);
      let top: Tree | undefined;
      // Each unordered split once: the sub-mask containing the lowest set bit is the left.
      const low = mask & -mask;
      for (let sub = (mask - 1) & mask; sub; sub = (sub - 1) & mask) {
        if (!(sub & low)) continue;
        const a = best.get(sub)!;
        const b = best.get(mask ^ sub)!;
        const pc = pairCost(net, a, b, letters);
        const cost = a.cost + b.cost + pc.cost;
        if (!top || cost < top.cost) top = { mask, letters, cost, flops: a.flops + b.flops + pc.flops, left: a, right: b };
      }
      best.set(mask, top!);
    }
  return best.get(full)!;
}

/**
 * optimalOrder with each subset's letters as a bit set over the net's letters (at most 30): the
 * same subsets in the same order, the same costs and the same choice on ties, without a string or a
 * size lookup per split. (Every product of sizes is an integer below 2⁵³, so the order in which it
 * is multiplied out does not change it.)
 */
function optimalOrderByBits(net: Net): Tree {
  const n = net.subs.length;
  const full = (1 << n) - 1;
  const u = letterUseOf(net);
  const sizes = u.letters.map((c) => net.sizes.get(c)!);
  // letters of each operand, of the output, and of each subset of operands
  const bit = new Map(u.letters.map((c, k) => [c, 1 << k]));
  const operandBits = net.subs.map((sub) => [...sub].reduce((m, c) => m | bit.get(c)!, 0));
  let outBits = 0;
  for (const c of net.out) outBits |= bit.get(c)!;
  const inside = new Int32Array(full + 1);
  for (let mask = 1; mask <= full; mask++) {
    const low = mask & -mask;
    inside[mask] = inside[mask ^ low] | operandBits[31 - Math.clz32(low)];
  }
  const space = (bits: number) => {
    let p = 1;
    for (let k = 0; bits; k++, bits >>>= 1) if (bits & 1) p *= sizes[k];
    return p;
  };
  // a tree's letters as bits: leaves from their (possibly summed-down) letter string
  const treeBits = new Int32Array(full + 1);
  const best = new Array<Tree>(full + 1);
  for (let i = 0; i < n; i++) {
    const leaf = leafTree(net, i);
    best[1 << i] = leaf;
    treeBits[1 << i] = [...leaf.letters].reduce((m, c) => m | bit.get(c)!, 0);
  }
  for (let size = 2; size <= n; size++)
    for (let mask = 1; mask <= full; mask++) {
      if (popcount(mask) !== size) continue;
      const keptBits = mask === full ? outBits : inside[mask] & (inside[full ^ mask] | outBits);
      let keptSize = 1; // (the output's letters as written: the root's result)
      if (mask === full) for (const c of net.out) keptSize *= net.sizes.get(c)!;
      else keptSize = space(keptBits);
      let top: Tree | undefined;
      let topLeft = 0;
      let topFlops = 0;
      const low = mask & -mask;
      for (let sub = (mask - 1) & mask; sub; sub = (sub - 1) & mask) {
        if (!(sub & low)) continue;
        const a = best[sub];
        const b = best[mask ^ sub];
        const union = treeBits[sub] | treeBits[mask ^ sub];
        const flops = space(union) * (1 + (union & ~keptBits ? 1 : 0));
        const cost = a.cost + b.cost + (flops + MEMORY_WEIGHT * keptSize);
        if (!top || cost < top.cost) {
          top = { mask, letters: '', cost, flops: 0 };
          topLeft = sub;
          topFlops = flops;
        }
      }
      const a = best[topLeft];
      const b = best[mask ^ topLeft];
      top!.letters = mask === full ? net.out : lettersOf(u.letters, keptBits);
      top!.flops = a.flops + b.flops + topFlops;
      top!.left = a;
      top!.right = b;
      best[mask] = top!;
      treeBits[mask] = keptBits;
    }
  return best[full];
}

/** The letters whose bits are set, in the order of `letters` (sorted). */
function lettersOf(letters: string[], bits: number): string {
  let out = '';
  for (let k = 0; bits; k++, bits >>>= 1) if (bits & 1) out += letters[k];
  return out;
}

export function greedyOrder(net: Net): Tree {
  const full = (1 << net.subs.length) - 1;
  let pool: Tree[] = net.subs.map((_, i) => leafTree(net, i));
  // A pair's own cost depends only on its two operand sets (what is outside them is everything
  // else either way), so it is computed once, not again every round: O(n²) pairs, not O(n³).
  const pairs = new Map<string, { letters: string; flops: number; cost: number }>();
  while (pool.length > 1) {
    // The cheapest next pair (by its own cost, not the accumulated cost of its subtrees).
    let pick: { i: number; j: number; t: Tree; pairCost: number } | undefined;
    for (let i = 0; i < pool.length; i++)
      for (let j = i + 1; j < pool.length; j++) {
        const mask = pool[i].mask | pool[j].mask;
        const key = `${pool[i].mask},${pool[j].mask}`;
        let pc = pairs.get(key);
        if (!pc) {
          const letters = keptLetters(net, mask, full);
          pairs.set(key, (pc = { letters, ...pairCost(net, pool[i], pool[j], letters) }));
        }
        if (pick && pc.cost >= pick.pairCost) continue;
        const t = { mask, letters: pc.letters, cost: pool[i].cost + pool[j].cost + pc.cost, flops: pool[i].flops + pool[j].flops + pc.flops, left: pool[i], right: pool[j] };
        pick = { i, j, t, pairCost: pc.cost };
      }
    pool = [...pool.filter((_, k) => k !== pick!.i && k !== pick!.j), pick!.t];
  }
  return pool[0];
}

/** The net of an einsum node. */
export function netOf(g: Graph, node: Node): Net {
  const s = parseSpec(node.attrs.spec as string);
  return { subs: s.ins, out: s.out, sizes: indexSizes(s, node.inputs.map((i) => g.shape(i))) };
}

/**
 * Build the tree's pairwise einsums. An intermediate's axes are ordered by first appearance in its
 * operands taken in id order, so the same contraction reached from different nets (forward and
 * each gradient) is the same node after hash-consing: CSE across nets.
 */
function emit(g: Graph, t: Tree, inputs: Id[], subs: string[], root = true): { id: Id; letters: string } {
  if (!t.left) {
    const i = Math.log2(t.mask);
    return { id: inputs[i], letters: subs[i] };
  }
  if (!t.right) {
    // A unary contraction: sum an operand's private indices away.
    const a = emit(g, t.left, inputs, subs, false);
    return { id: g.add('einsum', [a.id], specAttrs(`${a.letters}->${t.letters}`)), letters: t.letters };
  }
  let a = emit(g, t.left, inputs, subs, false);
  let b = emit(g, t.right!, inputs, subs, false);
  if (b.id < a.id) [a, b] = [b, a];
  const letters = root ? t.letters : lettersAmong(a.letters + b.letters, [t.letters]);
  return { id: g.add('einsum', [a.id, b.id], specAttrs(`${a.letters},${b.letters}->${letters}`)), letters };
}

export interface ContractOptions {
  /**
   * Log each net's order with its explanation (for --explain); costing a plan alone (regions.ts)
   * skips it; 'deferred' logs a placeholder that settleLog turns into the entry (the contract stage
   * costs several plans and keeps one log).
   */
  explain?: boolean | 'deferred';
  /** Orders already found, by net (netKey): one compile meets the same net in every block and in each region plan it costs. */
  orders?: Map<string, Tree>;
}

/** A net's identity for the order cache: its index strings and the sizes of its letters. */
export function netKey(net: Net): string {
  let key = `${net.subs.join(',')}->${net.out}|`;
  let first = true;
  for (const [c, n] of net.sizes) {
    key += `${first ? '' : ','}${c}${n}`;
    first = false;
  }
  return key;
}

/** The contraction-order rule; `opts` says whether to explain and where to remember orders. */
export function contractionRule(opts: ContractOptions = {}): Rule {
  const explain = opts.explain ?? true;
  return {
    name: 'contraction-order',
    doc: 'split an n-ary einsum into the cheapest tree of pairwise contractions',
    op: 'einsum',
    apply(node, ctx: RuleContext) {
      if (node.inputs.length < 2) return undefined;
      // A pair without indices of its own to sum first is its own (only) order: most nets after
      // merging are such pairs, and they need neither the net's size table nor the order cache.
      if (node.inputs.length === 2 && plainPair(node)) {
        if (explain) logOrder(ctx, node, undefined, pairTree(ctx.g, node), explain);
        return node.id;
      }
      const net = netOf(ctx.g, node);
      let tree: Tree;
      if (opts.orders) {
        const key = netKey(net);
        const known = opts.orders.get(key);
        tree = known ?? optimalOrder(net);
        if (!known) opts.orders.set(key, tree);
      } else tree = optimalOrder(net);
      if (explain) logOrder(ctx, node, net, tree, explain);
      // Two operands taken as they are: the pair is the node itself (it is canonical), nothing to build.
      if (node.inputs.length === 2 && tree.left && !tree.left.left && tree.right && !tree.right.left) return node.id;
      return emit(ctx.g, tree, node.inputs, net.subs).id;
    },
  };
}

/** Log the order chosen for a net (its Explained record: the entry's fields are written when read). */
function logOrder(ctx: RuleContext, node: Node, net: Net | undefined, tree: Tree, explain: true | 'deferred'): void {
  const x: Explained = { g: ctx.g, node, net, tree, leafAxes: ctx.leafAxes, dimLabel: ctx.dimLabel, naive: naiveOf(ctx, node.id), forward: ctx.facts.get(node.id)?.forward === true };
  ctx.log.push(explain === 'deferred' ? { rule: 'contraction-order', [DEFERRED]: x } : explainedEntry(x));
}

// plainPair's letter marks: the letter with code c is in operand k of the current call when pairMarks[k][c] === pairStamp.
const pairMarks = [new Int32Array(128), new Int32Array(128), new Int32Array(128)];
let pairStamp = 0;

/**
 * Whether a two-operand einsum has every index shared with the other operand or the output
 * (nothing to sum away first; letters in ASCII): then its order is the pair itself (pairTree).
 */
function plainPair(node: Node): boolean {
  const s = parseSpec(node.attrs.spec as string);
  if (++pairStamp === 0x7fffffff) pairMarks.forEach((m) => m.fill(0)), (pairStamp = 1);
  const stamp = pairStamp;
  const subs = [s.ins[0], s.ins[1], s.out];
  for (let k = 0; k < 3; k++) {
    const sub = subs[k];
    for (let i = 0; i < sub.length; i++) {
      const c = sub.charCodeAt(i);
      if (c >= 128) return false;
      pairMarks[k][c] = stamp;
    }
  }
  for (let k = 0; k < 2; k++) {
    const sub = subs[k];
    for (let i = 0; i < sub.length; i++) {
      const c = sub.charCodeAt(i);
      if (pairMarks[1 - k][c] !== stamp && pairMarks[2][c] !== stamp) return false;
    }
  }
  return true;
}

/** The order optimalOrder finds for a plain pair: the pair itself, costing its own FLOPs plus its result's size. */
function pairTree(g: Graph, node: Node): Tree {
  const s = parseSpec(node.attrs.spec as string);
  const flops = primitive('einsum').flops(node, g);
  let size = 1;
  for (const d of node.shape) size *= d;
  const left: Tree = { mask: 1, letters: s.ins[0], cost: 0, flops: 0 };
  const right: Tree = { mask: 2, letters: s.ins[1], cost: 0, flops: 0 };
  return { mask: 3, letters: s.out, cost: flops + MEMORY_WEIGHT * size, flops, left, right };
}

export const CONTRACT_RULES: Rule[] = [contractionRule()];

/** What a log entry's descriptions are written from. */
interface Explained {
  g: Graph;
  node: Node;
  /** (built when first read, for a pair: see netOfExplained) */
  net?: Net;
  tree: Tree;
  leafAxes: RuleContext['leafAxes'];
  dimLabel: RuleContext['dimLabel'];
  naive: number;
  forward: boolean;
  label?: Label;
}

const DEFERRED = Symbol('deferred contraction log entry');

const netOfExplained = (x: Explained): Net => (x.net ??= netOf(x.g, x.node));

/** The log with each deferred entry (explain: 'deferred') written out. */
export const settleLog = (log: RewriteLog[]): RewriteLog[] =>
  log.map((e) => {
    const x = (e as { [DEFERRED]?: Explained })[DEFERRED];
    return x ? explainedEntry(x) : e;
  });

const explainedOf = new WeakMap<RewriteLog, Explained>();

/** How the net's indices are named: by the dimension its operands declare; by size where none does. */
function labelOf(x: Explained): Label {
  if (x.label) return x.label;
  const names = x.leafAxes ? letterNames(x.g, x.node, x.leafAxes) : new Map<string, string>();
  return (x.label = (c) => names.get(c) ?? x.dimLabel?.(netOfExplained(x).sizes.get(c)!) ?? c);
}

/**
 * A field written when first read (then kept as a plain value): the contract stage logs every plan
 * it costs and keeps one, and the graph the descriptions read only grows (its nodes never change).
 * Enumerable, so JSON and spreads see a plain field. The getters are shared by all entries.
 */
function lazyField(key: string, compute: (x: Explained) => unknown): PropertyDescriptor {
  return {
    enumerable: true,
    configurable: true,
    get(this: RewriteLog) {
      const value = compute(explainedOf.get(this)!);
      Object.defineProperty(this, key, { value, enumerable: true, configurable: true, writable: true });
      return value;
    },
  };
}

const NET_FIELD = lazyField('net', (x) => describeNet(x.g, x.node, netOfExplained(x), labelOf(x)));
const ORDER_FIELD = lazyField('order', (x) => describeTree(x.g, x.node, x.tree, labelOf(x)));
const FOLDS_FIELD = lazyField('folds', (x) => expertFolds(x.g, x.node, netOfExplained(x), x.tree, tokenLetters(x.g, x.node), labelOf(x)));

/** The log entry of one net's order (fields in this order: the log's JSON is compared byte for byte). */
function explainedEntry(x: Explained): RewriteLog {
  const { naive } = x;
  const entry: RewriteLog = { rule: 'contraction-order', loc: x.node.loc, forward: x.forward };
  explainedOf.set(entry, x);
  Object.defineProperty(entry, 'net', NET_FIELD);
  Object.defineProperty(entry, 'order', ORDER_FIELD);
  entry.flopsBefore = naive;
  entry.flopsAfter = x.tree.flops;
  entry.applied = x.tree.flops < naive;
  Object.defineProperty(entry, 'folds', FOLDS_FIELD);
  return entry;
}

export type Label = (letter: string) => string;
export const showLetters = (letters: string, label: Label) => `[${[...letters].map(label).join(', ')}]`;

export function describeTree(g: Graph, node: Node, t: Tree, label: Label): string {
  if (!t.left) {
    const i = Math.log2(t.mask);
    return operandName(g, node.inputs[i], node, i, label);
  }
  if (!t.right) return `Σ${describeTree(g, node, t.left, label)}`;
  return `(${describeTree(g, node, t.left, label)} · ${describeTree(g, node, t.right!, label)})`;
}

export function operandName(g: Graph, id: Id, node: Node, i: number, label: Label = (c) => c): string {
  const n = g.node(id);
  const sub = showLetters(parseSpec(node.attrs.spec as string).ins[i], label).slice(1, -1);
  if (n.op === 'param' || n.op === 'input') return `${n.attrs.name}[${sub}]`;
  if (n.op === 'const') return String(Number((n.attrs.value as number).toPrecision(4)));
  const name = g.names.get(id) ?? (n.op === 'einsum' && n.inputs.length === 1 && g.names.get(n.inputs[0]) ? `${g.names.get(n.inputs[0])}'` : undefined);
  if (name) return `${name}[${sub}]`;
  return `${n.op}${n.loc ? `@${n.loc.line}:${n.loc.col}` : `#${id}`}[${sub}]`;
}

/** Run the optimiser; `carried` are facts of the source graph's nodes (e.g. naive FLOPs from merging). */
export function contractOrders(src: Graph, carried?: Map<Id, Record<string, unknown>>, labels: Pick<RuleContext, 'dimLabel' | 'leafAxes'> = {}, extra: Rule[] = [], opts?: ContractOptions) {
  return rebuild(src, [...extra, ...(opts ? [contractionRule(opts)] : CONTRACT_RULES)], {
    ctx: labels,
    facts(old, id, ctx) {
      const f = carried?.get(old);
      if (f) ctx.facts.set(id, { ...ctx.facts.get(id), ...f });
    },
  });
}
