// Deliberately wrong rewrite rules, to show that `lily verify` catches a broken compiler
// (`lily verify --inject-fault NAME`, and the mutation tests). Never used otherwise.
import { parseSpec, freshLetters } from '../ir/prims/einsum.ts';
import type { Rule } from './engine.ts';
import { tokenLetters } from './explain-net.ts';

export const FAULTS: Record<string, { stage: 'simplify' | 'contract'; doc: string; rule: Rule }> = {
  'drop-constant': {
    stage: 'simplify',
    doc: 'drops constant scalar factors from products (wrong unless the constant is 1)',
    rule: {
      name: 'fault:drop-constant',
      doc: 'wrong on purpose',
      op: 'einsum',
      apply(node, ctx) {
        const s = parseSpec(node.attrs.spec as string);
        const k = node.inputs.findIndex((id, i) => s.ins[i] === '' && ctx.g.node(id).op === 'const' && ctx.g.node(id).attrs.value !== 1);
        if (k < 0 || node.inputs.length < 2) return undefined;
        const keep = node.inputs.map((_, i) => i).filter((i) => i !== k);
        return ctx.g.add('einsum', keep.map((i) => node.inputs[i]), { spec: `${keep.map((i) => s.ins[i]).join(',')}->${s.out}` });
      },
    },
  },
  'unsound-expert-fold': {
    stage: 'contract',
    doc: 'folds a per-token router into one expert weight by averaging it over tokens (the rewrite the compiler must refuse)',
    rule: {
      name: 'fault:unsound-expert-fold',
      doc: 'wrong on purpose',
      op: 'einsum',
      apply(node, ctx) {
        if (node.inputs.length < 3 || ctx.facts.get(node.id)?.faulted) return undefined;
        const s = parseSpec(node.attrs.spec as string);
        const tokens = tokenLetters(ctx.g, node);
        const bank = s.ins.findIndex((sub, i) => sub.length >= 3 && ![...sub].some((c) => tokens.includes(c)) && ctx.g.node(node.inputs[i]).op === 'param');
        if (bank < 0) return undefined;
        const e = s.ins[bank][0];
        const k = s.ins.findIndex((sub, i) => i !== bank && sub.includes(e) && [...sub].some((c) => tokens.includes(c) && s.out.includes(c)));
        if (k < 0) return undefined;
        const t = [...s.ins[k]].find((c) => tokens.includes(c) && s.out.includes(c))!;
        const [m] = freshLetters(node.attrs.spec as string, 1);
        const n = ctx.g.shape(node.inputs[k])[s.ins[k].indexOf(t)];
        const ins = s.ins.map((sub, i) => (i === k ? sub.replace(t, m) : sub));
        const out = ctx.g.add('einsum', [...node.inputs, ctx.g.add('const', [], { value: 1 / n })], { spec: `${[...ins, ''].join(',')}->${s.out}` });
        ctx.facts.set(out, { ...ctx.facts.get(out), faulted: true });
        return out;
      },
    },
  },
};
