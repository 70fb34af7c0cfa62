// Rewrite rules keep values: each case is a small graph where a plausible slip in a rule changes
// the result (the shape or the numbers), checked against evaluating the graph as written.
import { describe, expect, it } from 'vitest';
import * as T from '../../runtime/tensor/index.ts';
import { evaluateOutputs } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import '../ir/prims.ts';
import { graphFlops, rebuild, settled } from './engine.ts';
import { mergeSumsOfProducts } from './merge.ts';
import { SIMPLIFY_RULES } from './rules-simplify.ts';

const x = T.tensor([2, 3], [1, -2, 3, 0.5, 4, -1]);
const leaves = new Map([['x', x]]);

function sameOutputs(before: Graph, after: Graph) {
  const a = evaluateOutputs(before, leaves);
  const b = evaluateOutputs(after, leaves);
  for (const [k, v] of a) {
    expect(b.get(k)!.shape, `shape of ${k}`).toEqual(v.shape);
    expect([...b.get(k)!.data], `values of ${k}`).toEqual([...v.data]);
  }
}

describe('simplify rules keep values', () => {
  it('constant folding computes scalar results only: a broadcast constant keeps its shape', () => {
    const g = new Graph();
    const c = g.add('const', [], { value: 2 });
    const wide = g.add('broadcast', [c], { shape: [3], map: [] });
    g.outputs.set('y', g.add('map', [wide], { fn: 'exp' }));
    g.outputs.set('s', g.add('map', [c], { fn: 'exp' })); // a scalar: folded
    const out = rebuild(g, SIMPLIFY_RULES).graph;
    sameOutputs(g, out);
    expect(out.node(out.outputs.get('s')!).op).toBe('const');
  });

  it('several constant scalar factors of a product become one, with the same value', () => {
    const g = new Graph();
    const p = g.add('param', [], { name: 'x', shape: [2, 3], trainable: true });
    g.outputs.set('y', g.add('einsum', [p, g.add('const', [], { value: 3 }), g.add('const', [], { value: -0.5 })], { spec: 'ab,,->ab' }));
    sameOutputs(g, rebuild(g, SIMPLIFY_RULES).graph);
  });
});

describe('forming sums of products keeps values', () => {
  it('absorbing a broadcast whose stretched axis is summed multiplies by that axis size', () => {
    // Σ_c x[a, b] broadcast over c (size 4) = 4 · x[a, b]: the factor must survive the absorption.
    const g = new Graph();
    const p = g.add('param', [], { name: 'x', shape: [2, 3], trainable: true });
    const b = g.add('broadcast', [p], { shape: [2, 3, 4], map: [0, 1] });
    const w = g.add('param', [], { name: 'w', shape: [3], trainable: true });
    g.outputs.set('y', g.add('einsum', [b, w], { spec: 'abc,b->a' }));
    leaves.set('w', T.tensor([3], [1, 2, 3]));
    sameOutputs(g, mergeSumsOfProducts(g).graph);
  });
});

describe('each simplify rule, by the graph it leaves', () => {
  leaves.set('a', T.tensor([], [1.5]));
  const simplified = (build: (g: Graph, x: number) => number) => {
    const g = new Graph();
    const p = g.add('param', [], { name: 'x', shape: [2, 3], trainable: true });
    g.outputs.set('y', build(g, p));
    const out = rebuild(g, SIMPLIFY_RULES).graph;
    sameOutputs(g, out);
    return { out, y: out.node(out.outputs.get('y')!) };
  };
  const k = (g: Graph, value: number) => g.add('const', [], { value });
  const constsOf = (out: Graph, ids: number[]) => ids.map((i) => out.node(i)).filter((n) => n.op === 'const').map((n) => n.attrs.value);

  it('fold-scalar-constants: two factors become their product, one einsum with one constant', () => {
    const { out, y } = simplified((g, p) => g.add('einsum', [p, k(g, 3), k(g, -0.5)], { spec: 'ab,,->ab' }));
    expect(y.op).toBe('einsum');
    expect(y.inputs).toHaveLength(2);
    expect(constsOf(out, y.inputs)).toEqual([-1.5]);
  });

  it('fold-scalar-constants: a lone factor 1 is dropped (leaving x), any other lone factor kept', () => {
    const one = simplified((g, p) => g.add('einsum', [p, k(g, 1)], { spec: 'ab,->ab' }));
    expect(one.y.op).toBe('param');
    const two = simplified((g, p) => g.add('einsum', [p, k(g, 2)], { spec: 'ab,->ab' }));
    expect(two.y.inputs).toHaveLength(2);
    expect(constsOf(two.out, two.y.inputs)).toEqual([2]);
    // Factors whose product is 1 vanish too.
    const cancel = simplified((g, p) => g.add('einsum', [p, k(g, 4), k(g, 0.25)], { spec: 'ab,,->ab' }));
    expect(cancel.y.op).toBe('param');
  });

  it('fold-scalar-constants: a product of constants only is one constant', () => {
    const { y } = simplified((g) => g.add('einsum', [k(g, 2), k(g, 0.5)], { spec: ',->' }));
    expect(y.op).toBe('const');
    expect(y.attrs.value).toBe(1);
    const six = simplified((g) => g.add('einsum', [k(g, 2), k(g, 3)], { spec: ',->' }));
    expect([six.y.op, six.y.attrs.value]).toEqual(['const', 6]);
  });

  it('fold-scalar-constants: scalar operands that are not constants stay factors', () => {
    const g = new Graph();
    const p = g.add('param', [], { name: 'x', shape: [2, 3], trainable: true });
    const a = g.add('param', [], { name: 'a', shape: [], trainable: true });
    const b = g.add('param', [], { name: 'b', shape: [], trainable: true });
    g.outputs.set('y', g.add('einsum', [p, a, b, k(g, 2)], { spec: 'ab,,,->ab' }));
    const out = rebuild(g, SIMPLIFY_RULES).graph;
    const y = out.node(out.outputs.get('y')!);
    expect(y.inputs.map((i) => out.node(i).op).sort()).toEqual(['const', 'param', 'param', 'param']);
  });

  it('einsum-zero: a zero constant or zero fill factor makes a zero tensor of the result’s shape; other fills do not', () => {
    const byConst = simplified((g, p) => g.add('einsum', [p, k(g, 0)], { spec: 'ab,->ba' }));
    expect([byConst.y.op, byConst.y.attrs.value, byConst.y.attrs.shape]).toEqual(['fill', 0, [3, 2]]);
    const byFill = simplified((g, p) => g.add('einsum', [p, g.add('fill', [], { value: 0, shape: [3] })], { spec: 'ab,b->a' }));
    expect([byFill.y.op, byFill.y.attrs.value, byFill.y.attrs.shape]).toEqual(['fill', 0, [2]]);
    const ones = simplified((g, p) => g.add('einsum', [p, g.add('fill', [], { value: 1, shape: [3] })], { spec: 'ab,b->a' }));
    expect(ones.y.op).toBe('einsum');
  });

  it('constant-fold: a scalar operation on constants is computed; with a non-constant input it stays', () => {
    const exp = simplified((g) => g.add('map', [k(g, 2)], { fn: 'exp' }));
    expect([exp.y.op, exp.y.attrs.value]).toEqual(['const', Math.exp(2)]);
    const sum = simplified((g) => g.add('add', [k(g, 2), k(g, 3)]));
    expect([sum.y.op, sum.y.attrs.value]).toEqual(['const', 5]);
    const mixed = simplified((g) => g.add('add', [k(g, 2), g.add('param', [], { name: 'a', shape: [], trainable: true })]));
    expect(mixed.y.op).toBe('add');
  });

  it('stopgrad-of-constant: removed around a constant or a fill, kept around anything else', () => {
    const c = simplified((g) => g.add('stopgrad', [k(g, 2)]));
    expect([c.y.op, c.y.attrs.value]).toEqual(['const', 2]);
    const f = simplified((g) => g.add('stopgrad', [g.add('fill', [], { value: 3, shape: [2] })]));
    expect(f.y.op).toBe('fill');
    const p = simplified((g, x) => g.add('stopgrad', [x]));
    expect(p.y.op).toBe('stopgrad');
  });
});

describe('the simplify rules table', () => {
  it('names each rule once and says what it does (merge.ts picks fold-scalar-constants by name)', () => {
    expect(SIMPLIFY_RULES.map((r) => [r.name, r.op])).toEqual([
      ['fold-scalar-constants', 'einsum'],
      ['einsum-zero', 'einsum'],
      ['constant-fold', '*'],
      ['stopgrad-of-constant', 'stopgrad'],
    ]);
    for (const r of SIMPLIFY_RULES) expect(r.doc.length, r.name).toBeGreaterThan(20);
  });

  it('forming sums of products folds their constant factors too', () => {
    const g = new Graph();
    const p = g.add('param', [], { name: 'x', shape: [2, 3], trainable: true });
    const scaled = g.add('einsum', [p, g.add('const', [], { value: 3 })], { spec: 'ab,->ab' });
    g.outputs.set('y', g.add('einsum', [scaled, g.add('const', [], { value: 0.5 })], { spec: 'ab,->ab' }));
    const out = mergeSumsOfProducts(g).graph;
    sameOutputs(g, out);
    const y = out.node(out.outputs.get('y')!);
    expect(y.inputs.map((i) => out.node(i)).filter((n) => n.op === 'const').map((n) => n.attrs.value)).toEqual([1.5]);
  });
});

// The contract stage reads a plan's FLOPs without rebuilding it when no simplify rule would fire.
describe('settled: whether a rebuild with the rules would change anything', () => {
  const product = (factors: number[]) => {
    const g = new Graph();
    const p = g.add('param', [], { name: 'x', shape: [2, 3], trainable: true });
    const q = g.add('param', [], { name: 'w', shape: [3, 4], trainable: true });
    const consts = factors.map((value) => g.add('const', [], { value }));
    g.outputs.set('y', g.add('einsum', [p, q, ...consts], { spec: `ab,bc${','.repeat(factors.length)}->ac` }));
    return g;
  };
  it('a product with one factor other than 1 is settled: its FLOPs are those of its rebuild', () => {
    const g = product([3]);
    expect(settled(g, SIMPLIFY_RULES)).toBe(true);
    expect(graphFlops(rebuild(g, SIMPLIFY_RULES).graph)).toBe(graphFlops(g));
  });
  it('two constant factors (folded into one) or a factor 1 (dropped) are not', () => {
    for (const factors of [[3, -0.5], [1]]) {
      const g = product(factors);
      expect(settled(g, SIMPLIFY_RULES)).toBe(false);
      expect(graphFlops(rebuild(g, SIMPLIFY_RULES).graph)).toBeLessThan(graphFlops(g));
    }
  });
});
