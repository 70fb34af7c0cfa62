// Forming sums of products: an einsum operand that is itself an einsum may be inlined into its
// consumer, so a chain of products and sums becomes one n-ary einsum whose contraction order the
// optimiser (contract.ts) then chooses freely; broadcasts are always absorbed (they are free).
// Which edges to inline is planned before rebuilding (planInlining).
import type { Graph, Id } from '../ir/graph.ts';
import { primitive } from '../ir/prim.ts';
import { freshLetters, LETTERS, parseSpec, specAttrs, type EinsumSpec } from '../ir/prims/einsum.ts';
import { rebuild, type Rule, type RuleContext } from './engine.ts';
import { MAX_OPERANDS } from './limits.ts';
import { SIMPLIFY_RULES } from './rules-simplify.ts';

// (read for every einsum; sets stored in facts are never changed, so the empty one is shared)
const NO_INLINING: ReadonlySet<Id> = new Set<Id>();
const inlineSet = (ctx: RuleContext, id: Id) => (ctx.facts.get(id)?.inline as ReadonlySet<Id> | undefined) ?? NO_INLINING;

export const MERGE_RULES: Rule[] = [
  ...SIMPLIFY_RULES.filter((r) => r.name === 'fold-scalar-constants'),
  {
    name: 'einsum-absorb-broadcast',
    doc: 'a broadcast operand of an einsum is the unbroadcast tensor with fewer indices',
    op: 'einsum',
    apply(node, ctx) {
      let k = 0;
      while (k < node.inputs.length && ctx.g.node(node.inputs[k]).op !== 'broadcast') k++;
      if (k === node.inputs.length) return undefined;
      const s = parseSpec(node.attrs.spec as string);
      const b = ctx.g.node(node.inputs[k]);
      let x = b.inputs[0];
      const xs = ctx.g.shape(x);
      const map = b.attrs.map as number[];
      const stretched = xs.map((d, i) => d !== b.shape[map[i]]);
      if (stretched.some(Boolean)) x = ctx.g.add('reshape', [x], { shape: xs.filter((_, i) => !stretched[i]) });
      const sub = map.filter((_, i) => !stretched[i]).map((m) => s.ins[k][m]).join('');
      const ins = s.ins.map((v, i) => (i === k ? sub : v));
      const inputs = node.inputs.map((v, i) => (i === k ? x : v));
      // Letters only the broadcast carried and that are summed: Σ over them multiplies by their size.
      const lost = [...new Set(s.ins[k])].filter((c) => !ins.join('').includes(c));
      if (lost.some((c) => s.out.includes(c))) return undefined;
      const factor = lost.reduce((p, c) => p * b.shape[s.ins[k].indexOf(c)], 1);
      if (factor !== 1) {
        inputs.push(ctx.g.add('const', [], { value: factor }));
        ins.push('');
      }
      const merged = ctx.g.add('einsum', inputs, specAttrs(`${ins.join(',')}->${s.out}`));
      ctx.facts.set(merged, { ...ctx.facts.get(merged), naive: naiveOf(ctx, node.id), inline: inlineSet(ctx, node.id) });
      return merged;
    },
  },
  {
    name: 'einsum-inline-einsum',
    doc: 'an einsum operand planned for inlining joins its consumer: one sum of products',
    op: 'einsum',
    apply(node, ctx) {
      const plan = inlineSet(ctx, node.id);
      if (plan.size === 0) return undefined;
      // A net stays within the optimiser's operand limit: an operand that would push it over is
      // kept as its own (already optimised) einsum.
      let k = 0;
      for (; k < node.inputs.length; k++) {
        const id = node.inputs[k];
        const operand = ctx.g.node(id);
        if (operand.op === 'einsum' && plan.has(id) && node.inputs.length - 1 + operand.inputs.length <= MAX_OPERANDS) break;
      }
      if (k === node.inputs.length) return undefined;
      const s = parseSpec(node.attrs.spec as string);
      const inner = ctx.g.node(node.inputs[k]);
      const si = parseSpec(inner.attrs.spec as string);
      // Inner output letters take the consumer's letters; inner summed letters get fresh ones.
      const innerIns = renamedInner(si, s.ins[k], node.attrs.spec as string);
      if (!innerIns) return undefined; // the net would need more index letters than there are
      // operand k replaced by the inner einsum's operands (loops: every inlining step comes here)
      const size = node.inputs.length - 1 + inner.inputs.length;
      const ins = new Array<string>(size);
      const inputs = new Array<Id>(size);
      let at = 0;
      let again = false; // the inner einsum is also another operand of this one
      for (let i = 0; i < node.inputs.length; i++) {
        if (i !== k) {
          ins[at] = s.ins[i];
          inputs[at++] = node.inputs[i];
          if (node.inputs[i] === inner.id) again = true;
        } else
          for (let j = 0; j < innerIns.length; j++) {
            ins[at] = innerIns[j];
            inputs[at++] = inner.inputs[j];
          }
      }
      const merged = ctx.g.add('einsum', inputs, specAttrs(`${ins.join(',')}->${s.out}`));
      const rest = new Set(plan);
      for (const id of inlineSet(ctx, inner.id)) rest.add(id);
      if (!again) rest.delete(inner.id);
      ctx.facts.set(merged, { ...ctx.facts.get(merged), naive: naiveOf(ctx, node.id) + naiveOf(ctx, inner.id), inline: rest });
      return merged;
    },
  },
];

// renamedInner's letter table (letters are ASCII: LETTERS), reset per call by marks.
const renameTo = new Array<string>(128);
const renameMark = new Int32Array(128);
let renameStamp = 0;

/**
 * The inner einsum's index strings in the consumer's letters: its output letters become the
 * consumer's letters for that operand (`as`), its summed letters fresh letters unused in the
 * consumer's spec; undefined when the alphabet runs out.
 */
export function renamedInner(si: EinsumSpec, as: string, consumerSpec: string): string[] | undefined {
  if (!isAscii(si.out) || !si.ins.every(isAscii)) return renamedInnerGeneral(si, as, consumerSpec);
  if (++renameStamp === 0x7fffffff) renameMark.fill(0), (renameStamp = 1);
  const m = renameStamp;
  for (let i = 0; i < si.out.length; i++) {
    const c = si.out.charCodeAt(i);
    renameMark[c] = m;
    renameTo[c] = as[i];
  }
  // summed letters in order of first appearance, each the next letter the consumer does not use
  let next = 0;
  for (const sub of si.ins)
    for (let i = 0; i < sub.length; i++) {
      const c = sub.charCodeAt(i);
      if (renameMark[c] === m) continue;
      while (next < LETTERS.length && consumerSpec.includes(LETTERS[next])) next++;
      if (next === LETTERS.length) return undefined;
      renameMark[c] = m;
      renameTo[c] = LETTERS[next++];
    }
  const out = new Array<string>(si.ins.length);
  for (let o = 0; o < si.ins.length; o++) {
    const sub = si.ins[o];
    let t = '';
    for (let i = 0; i < sub.length; i++) t += renameTo[sub.charCodeAt(i)];
    out[o] = t;
  }
  return out;
}

const isAscii = (t: string) => {
  for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) >= 128) return false;
  return true;
};

/** renamedInner for any letters (with maps). */
export function renamedInnerGeneral(si: EinsumSpec, as: string, consumerSpec: string): string[] | undefined {
  const rename = new Map<string, string>();
  [...si.out].forEach((c, i) => rename.set(c, as[i]));
  const summed = [...new Set(si.ins.join(''))].filter((c) => !si.out.includes(c));
  const fresh = freshLetters(consumerSpec, summed.length);
  if (fresh.length < summed.length) return undefined;
  summed.forEach((c, i) => rename.set(c, fresh[i]));
  return si.ins.map((sub) => [...sub].map((c) => rename.get(c)!).join(''));
}

/** FLOPs of the sum of products as the program wrote it (before any reordering). */
export function naiveOf(ctx: RuleContext, id: Id): number {
  const f = ctx.facts.get(id)?.naive;
  if (typeof f === 'number') return f;
  const n = ctx.g.node(id);
  return n.op === 'einsum' ? primitive('einsum').flops(n, ctx.g) : 0;
}

/** Use counts within the forward program (the live set of output 'y'). */
export function forwardUses(g: Graph): Map<Id, number> {
  const y = g.outputs.get('y');
  return y === undefined ? new Map() : g.uses([y]);
}

export type InlinePolicy = 'aggressive' | 'conservative';

/**
 * Which (consumer, operand) edges to inline, as 'consumer:operand' keys of the source graph.
 * A value the forward program uses more than once is never inlined. Otherwise:
 *  - conservative: inline only where nothing is computed twice (a forward value into its forward
 *    consumer, a value with one use into that use);
 *  - aggressive: also inline into every backward consumer (recomputing there), so each gradient's
 *    net is optimised whole — what exposes the expert-sum fold in the backward program.
 * The contract stage chooses between them region by region (regions.ts), with both whole-program
 * plans and the naive program as a floor.
 */
export function planInlining(src: Graph, policy: InlinePolicy): Set<string> {
  return inliningPlans(src)[policy];
}

/** Both inlining plans (planInlining), from one pass over the graph's uses. */
export function inliningPlans(src: Graph): Record<InlinePolicy, Set<string>> {
  const y = src.outputs.get('y');
  const fwdLive = y === undefined ? [] : src.live([y]);
  // forwardUses, from the forward walk already made
  const fwdUses = new Map<Id, number>();
  for (const id of fwdLive) for (const i of src.node(id).inputs) fwdUses.set(i, (fwdUses.get(i) ?? 0) + 1);
  if (y !== undefined) fwdUses.set(y, (fwdUses.get(y) ?? 0) + 1);
  const live = src.live();
  const allUses = new Map<Id, number>();
  for (const id of live) for (const i of src.node(id).inputs) allUses.set(i, (allUses.get(i) ?? 0) + 1);
  for (const r of src.outputs.values()) allUses.set(r, (allUses.get(r) ?? 0) + 1);
  const fwd = new Set(fwdLive);
  const aggressive = new Set<string>();
  const conservative = new Set<string>();
  for (const c of live) {
    const cn = src.node(c);
    if (cn.op !== 'einsum') continue;
    for (const e of cn.inputs) {
      if (src.node(e).op !== 'einsum' || (fwdUses.get(e) ?? 0) >= 2) continue;
      const edge = `${c}:${e}`;
      aggressive.add(edge);
      if ((allUses.get(e) ?? 0) <= 1 || (fwd.has(c) && fwd.has(e))) conservative.add(edge);
    }
  }
  return { aggressive, conservative };
}

export function mergeSumsOfProducts(src: Graph, policy: InlinePolicy | Set<string> = 'aggressive') {
  const edges = typeof policy === 'string' ? planInlining(src, policy) : policy;
  const byConsumer = new Map<Id, Id[]>();
  for (const k of edges) {
    const [c, e] = k.split(':').map(Number);
    (byConsumer.get(c) ?? byConsumer.set(c, []).get(c)!).push(e);
  }
  let mapped: (old: Id) => Id | undefined = () => undefined;
  const result = rebuild(src, MERGE_RULES, {
    facts(old, id, ctx) {
      const planned = byConsumer.get(old);
      const f = ctx.facts.get(id);
      // Most nodes inline nothing: their empty plan is left unrecorded (inlineSet reads it as
      // empty) unless it replaces a plan recorded for the same node (CSE: the last one stands).
      if (!planned && !(f?.inline as Set<Id> | undefined)?.size) return;
      const inline = new Set((planned ?? []).map((e) => mapped(e)!).filter((x) => x !== undefined));
      ctx.facts.set(id, { ...f, inline });
    },
    onMap: (m) => (mapped = m),
  });
  return result;
}
