// Layout: an intermediate contraction's axis order, chosen by how its one consumer reads it.
//
// The contract stage orders an intermediate's axes canonically (by its operands, so forward and
// gradient nets share nodes). An elementwise consumer that reads it in another order — the MLP's
// backward dH = (dY·W_downᵀ) ⊙ gelu'(U), with dY·W_downᵀ laid out [F, B, T] and read as [B, T, F] —
// then walks it with a stride of B·T floats in its innermost loop: one cache line per element, and
// no vector loads. A GEMM writes C or Cᵀ at the same cost, so the contraction takes the consumer's
// order instead: the consumer's innermost axis becomes the intermediate's last axis.
import type { Graph, Id, Node } from '../ir/graph.ts';
import { parseSpec, specAttrs } from '../ir/prims/einsum.ts';
import { rebuild, type Rule, type RuleContext } from './engine.ts';

const specOf = (ins: string[], out: string) => `${ins.join(',')}->${out}`;

/** A contraction of two or more operands that sums some index away (what becomes a GEMM). */
function isContraction(n: Node): boolean {
  if (n.op !== 'einsum' || n.inputs.length < 2) return false;
  const s = parseSpec(n.attrs.spec as string);
  return [...s.ins.join('')].some((c) => !s.out.includes(c));
}

export const LAYOUT_RULES: Rule[] = [
  {
    name: 'layout-follow-consumer',
    doc: "lay out a contraction's result in the order its only consumer, an elementwise product, reads it",
    op: 'einsum',
    apply(node, ctx: RuleContext) {
      const s = parseSpec(node.attrs.spec as string);
      if (node.inputs.length < 2 || [...s.ins.join('')].some((c) => !s.out.includes(c))) return undefined; // elementwise only
      const inner = s.out.at(-1);
      if (inner === undefined) return undefined;
      for (let i = 0; i < node.inputs.length; i++) {
        const at = s.ins[i]!.indexOf(inner);
        if (at < 0 || at === s.ins[i]!.length - 1) continue;
        const pid = node.inputs[i]!;
        const producer = ctx.g.node(pid);
        const f = ctx.facts.get(pid);
        if (!isContraction(producer) || f?.uses !== 1 || f.output || node.inputs.indexOf(pid) !== i || node.inputs.lastIndexOf(pid) !== i) continue;
        if (new Set(s.ins[i]).size !== s.ins[i]!.length) continue; // a diagonal read: leave it
        const ps = parseSpec(producer.attrs.spec as string);
        const moved = ps.out.slice(0, at) + ps.out.slice(at + 1) + ps.out[at];
        const relaid = ctx.g.add('einsum', producer.inputs, specAttrs(specOf(ps.ins, moved)));
        const ins = s.ins.map((l, k) => (k === i ? l.slice(0, at) + l.slice(at + 1) + inner : l));
        ctx.log.push({ rule: 'layout-follow-consumer', loc: node.loc, detail: `${specOf(ps.ins, ps.out)} → ${specOf(ps.ins, moved)}` });
        return ctx.g.add('einsum', node.inputs.map((x, k) => (k === i ? relaid : x)), specAttrs(specOf(ins, s.out)));
      }
      return undefined;
    },
  },
];

/**
 * Run the layout rules; a node carries how often the source graph uses it and whether it is an
 * output — recorded only where the rule can act on it (one use, not an output: the facts of every
 * other node would only say no).
 */
export function chooseLayouts(src: Graph) {
  const uses = src.uses();
  const outputs = new Set(src.outputs.values());
  return rebuild(src, LAYOUT_RULES, {
    facts(old: Id, id: Id, ctx) {
      if (uses.get(old) === 1 && !outputs.has(old)) ctx.facts.set(id, { ...ctx.facts.get(id), uses: 1, output: false });
      else if (ctx.facts.has(id)) ctx.facts.set(id, { ...ctx.facts.get(id), uses: uses.get(old) ?? 0, output: outputs.has(old) });
    },
  });
}
