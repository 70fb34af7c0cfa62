// Forming sums of products: einsum operands that are themselves einsums (computed for this use
// only) or broadcasts are inlined, so each maximal sum of products becomes one n-ary einsum whose
// contraction order the optimiser (contract.ts) then chooses freely. A node the user's forward
// program uses more than once stays materialised (recomputing it per use could cost more than it
// saves); a forward node used once is inlined even where the backward program reuses it, so that
// forward and backward nets are each optimised whole.
import type { Graph, Id } from '../ir/graph.ts';
import { primitive } from '../ir/prim.ts';
import { freshLetters, parseSpec } from '../ir/prims/einsum.ts';
import { rebuild, type Rule, type RuleContext } from './engine.ts';

import { SIMPLIFY_RULES } from './rules-simplify.ts';

export const MERGE_RULES: Rule[] = [
  ...SIMPLIFY_RULES.filter((r) => r.name === 'fold-scalar-constants'),
  {
    name: 'einsum-absorb-broadcast',
    doc: 'a broadcast operand of an einsum is the unbroadcast tensor with fewer indices',
    op: 'einsum',
    apply(node, ctx) {
      const s = parseSpec(node.attrs.spec as string);
      const k = node.inputs.findIndex((id) => ctx.g.node(id).op === 'broadcast');
      if (k < 0) return undefined;
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
      return carry(ctx, node.id, ctx.g.add('einsum', inputs, { spec: `${ins.join(',')}->${s.out}` }));
    },
  },
  {
    name: 'einsum-inline-einsum',
    doc: 'an einsum operand computed only for this use is inlined: one sum of products',
    op: 'einsum',
    apply(node, ctx) {
      const s = parseSpec(node.attrs.spec as string);
      const k = node.inputs.findIndex((id) => ctx.g.node(id).op === 'einsum' && ctx.facts.get(id)?.inlinable === true);
      if (k < 0) return undefined;
      const inner = ctx.g.node(node.inputs[k]);
      const si = parseSpec(inner.attrs.spec as string);
      // Inner output letters take the consumer's letters; inner summed letters get fresh ones.
      const rename = new Map<string, string>();
      [...si.out].forEach((c, i) => rename.set(c, s.ins[k][i]));
      const summed = [...new Set(si.ins.join(''))].filter((c) => !si.out.includes(c));
      const fresh = freshLetters(node.attrs.spec as string, summed.length);
      summed.forEach((c, i) => rename.set(c, fresh[i]));
      const innerIns = si.ins.map((sub) => [...sub].map((c) => rename.get(c)!).join(''));
      const ins = [...s.ins.slice(0, k), ...innerIns, ...s.ins.slice(k + 1)];
      const inputs = [...node.inputs.slice(0, k), ...inner.inputs, ...node.inputs.slice(k + 1)];
      const merged = ctx.g.add('einsum', inputs, { spec: `${ins.join(',')}->${s.out}` });
      setNaive(ctx, merged, naiveOf(ctx, node.id) + naiveOf(ctx, inner.id));
      return merged;
    },
  },
];

/** FLOPs of the sum of products as the program wrote it (before any reordering). */
export function naiveOf(ctx: RuleContext, id: Id): number {
  const f = ctx.facts.get(id)?.naive;
  if (typeof f === 'number') return f;
  const n = ctx.g.node(id);
  return n.op === 'einsum' ? primitive('einsum').flops(n, ctx.g) : 0;
}
function setNaive(ctx: RuleContext, id: Id, flops: number) {
  ctx.facts.set(id, { ...ctx.facts.get(id), naive: flops });
}
function carry(ctx: RuleContext, from: Id, to: Id): Id {
  setNaive(ctx, to, naiveOf(ctx, from));
  return to;
}

/** Use counts within the forward program (the live set of output 'y'). */
export function forwardUses(g: Graph): Map<Id, number> {
  const y = g.outputs.get('y');
  return y === undefined ? new Map() : g.uses([y]);
}

export function mergeSumsOfProducts(src: Graph, fwdUses = forwardUses(src)) {
  const all = src.uses();
  return rebuild(src, MERGE_RULES, {
    facts(old, id, ctx) {
      // Backward-only intermediates (cotangents) are inlined into every use: each gradient's
      // net is then optimised whole, and CSE shares what the chosen orders have in common.
      const inlinable = (fwdUses.get(old) ?? 0) <= 1;
      void all;
      const prev = ctx.facts.get(id);
      ctx.facts.set(id, { ...prev, inlinable: prev?.inlinable === false ? false : inlinable });
    },
  });
}
