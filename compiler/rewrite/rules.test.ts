// Rewrite rules keep values: each case is a small graph where a plausible slip in a rule changes
// the result (the shape or the numbers), checked against evaluating the graph as written.
import { describe, expect, it } from 'vitest';
import * as T from '../../runtime/tensor/index.ts';
import { evaluateOutputs } from '../ir/evaluate.ts';
import { Graph } from '../ir/graph.ts';
import '../ir/prims.ts';
import { rebuild } from './engine.ts';
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
