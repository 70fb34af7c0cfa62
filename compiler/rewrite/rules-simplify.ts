// Algebraic simplification rules (run before and after autodiff). Each is a record: a name, the
// op it matches, and what it rewrites to. CSE and DCE come from rebuilding (engine.ts).
import type { Id, Node } from '../ir/graph.ts';
import { primitive } from '../ir/prim.ts';
import { parseSpec, specAttrs } from '../ir/prims/einsum.ts';
import type { Rule, RuleContext } from './engine.ts';

const isConst = (ctx: RuleContext, id: Id) => ctx.g.node(id).op === 'const';
const constValue = (ctx: RuleContext, id: Id) => ctx.g.node(id).attrs.value as number;

export const SIMPLIFY_RULES: Rule[] = [
  {
    name: 'fold-scalar-constants',
    doc: 'an einsum with several constant scalar factors multiplies them into one',
    op: 'einsum',
    apply(node, ctx) {
      // (most einsums have no constant operand: answered before anything is allocated)
      let count = 0;
      let last = -1;
      for (let k = 0; k < node.inputs.length; k++) if (isConst(ctx, node.inputs[k])) count++, (last = k);
      if (count === 0 || (count === 1 && constValue(ctx, node.inputs[last]) !== 1)) return undefined; // (a lone factor: most scaled products)
      const s = parseSpec(node.attrs.spec as string);
      // A const is a scalar: its subscript is ''.
      const consts = node.inputs.map((id, k) => (isConst(ctx, id) ? k : -1)).filter((k) => k >= 0);
      // Two or more factors fold into one; a lone factor 1 is dropped (an einsum of a lone
      // constant cannot exist: it is the identity, which the graph builder returns as its input).
      if (consts.length < 2 && !(consts.length === 1 && constValue(ctx, node.inputs[consts[0]]) === 1)) return undefined;
      const value = consts.reduce((p, k) => p * constValue(ctx, node.inputs[k]), 1);
      const keep = node.inputs.map((_, k) => k).filter((k) => !consts.includes(k));
      const inputs = keep.map((k) => node.inputs[k]);
      const ins = keep.map((k) => s.ins[k]);
      if (value !== 1 || inputs.length === 0) {
        inputs.push(ctx.g.add('const', [], { value }));
        ins.push('');
      }
      return ctx.g.add('einsum', inputs, specAttrs(`${ins.join(',')}->${s.out}`));
    },
  },
  {
    name: 'einsum-zero',
    doc: 'a product with a zero constant is a zero tensor',
    op: 'einsum',
    apply(node, ctx) {
      // (a loop, not some(closure): every einsum of every simplifying rebuild is asked)
      for (const id of node.inputs) {
        const n = ctx.g.node(id);
        if ((n.op === 'const' || n.op === 'fill') && n.attrs.value === 0) return ctx.g.add('fill', [], { value: 0, shape: node.shape });
      }
      return undefined;
    },
  },
  {
    name: 'constant-fold',
    doc: 'an operation on constant scalars is computed at compile time',
    op: '*',
    apply(node: Node, ctx) {
      const p = primitive(node.op);
      // Leaves, constants and fills have no inputs: nothing to fold.
      if (node.shape.length !== 0 || node.inputs.length === 0) return undefined;
      for (const id of node.inputs) if (!isConst(ctx, id)) return undefined;
      const v = p.eval(node.inputs.map((id) => ({ shape: [], data: Float64Array.of(constValue(ctx, id)) })), node.attrs, node);
      return ctx.g.add('const', [], { value: v.data[0] });
    },
  },
  {
    name: 'stopgrad-of-constant',
    doc: 'stopgrad of a constant is the constant',
    op: 'stopgrad',
    apply(node, ctx) {
      const inner = ctx.g.node(node.inputs[0]).op;
      return inner === 'const' || inner === 'fill' ? node.inputs[0] : undefined;
    },
  },
];
