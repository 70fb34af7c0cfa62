import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as T from '../../runtime/tensor/index.ts';
import { checkSource } from '../frontend.ts';
import { evaluateOutputs } from '../ir/evaluate.ts';
import { Graph, type Id } from '../ir/graph.ts';
import '../ir/prims.ts';
import { parseSpec } from '../ir/prims/einsum.ts';
import { compile } from '../pipeline.ts';
import { chooseLayouts } from './layout.ts';

const [F, B, Tk, D] = [5, 2, 3, 4];
const values = (shape: number[], seed: number) => T.tensor(shape, Array.from({ length: shape.reduce((p, n) => p * n, 1) }, (_, i) => Math.sin(seed * 7.1 + i * 1.3)));
const leaves = new Map([
  ['W', values([F, D], 1)],
  ['g', values([B, Tk, D], 2)],
  ['u', values([B, Tk, F], 3)],
]);

/** The MLP backward's shape: (g · Wᵀ) laid out [F, B, T] by the contract stage, times u [B, T, F]. */
function mlpBackward(alsoOutput = false): { g: Graph; product: Id } {
  const g = new Graph();
  const W = g.add('param', [], { name: 'W', shape: [F, D] });
  const grad = g.add('input', [], { name: 'g', shape: [B, Tk, D] });
  const u = g.add('input', [], { name: 'u', shape: [B, Tk, F] });
  const product = g.add('einsum', [W, grad], { spec: 'ad,bcd->abc' });
  g.outputs.set('y', g.add('einsum', [u, product], { spec: 'abc,cab->abc' }));
  if (alsoOutput) g.outputs.set('p', product);
  return { g, product };
}

/** Elementwise einsums that read a contraction's result with their innermost index not last. */
function stridedReads(g: Graph): string[] {
  const found: string[] = [];
  for (const id of g.live()) {
    const n = g.node(id);
    if (n.op !== 'einsum' || n.inputs.length < 2) continue;
    const s = parseSpec(n.attrs.spec as string);
    if ([...s.ins.join('')].some((c) => !s.out.includes(c))) continue;
    n.inputs.forEach((i, k) => {
      const p = g.node(i);
      const ps = p.op === 'einsum' ? parseSpec(p.attrs.spec as string) : null;
      const contraction = ps && p.inputs.length > 1 && [...ps.ins.join('')].some((c) => !ps.out.includes(c));
      if (contraction && s.ins[k]!.includes(s.out.at(-1)!) && !s.ins[k]!.endsWith(s.out.at(-1)!)) found.push(`${n.attrs.spec}`);
    });
  }
  return found;
}

describe('layout stage', () => {
  it("lays a contraction out in its elementwise consumer's order, with the same values", () => {
    const { g } = mlpBackward();
    expect(stridedReads(g)).toHaveLength(1);
    const laid = chooseLayouts(g);
    expect(stridedReads(laid.graph)).toEqual([]);
    const y = laid.graph.node(laid.graph.outputs.get('y')!);
    expect(laid.graph.node(y.inputs[1]!).shape).toEqual([B, Tk, F]); // was [F, B, T]
    expect(laid.log.map((l) => l.rule)).toEqual(['layout-follow-consumer']);
    const [before, after] = [evaluateOutputs(g, leaves).get('y')!, evaluateOutputs(laid.graph, leaves).get('y')!];
    expect(after.shape).toEqual(before.shape);
    expect([...after.data]).toEqual([...before.data]);
  });

  it('leaves a contraction that is also used elsewhere (here: a named output) as it is', () => {
    const { g } = mlpBackward(true);
    const laid = chooseLayouts(g);
    expect(laid.log).toEqual([]);
    expect(stridedReads(laid.graph)).toHaveLength(1);
  });

  it("removes the ViT MLP backward's strided read of dY·W_downᵀ (compile --dump-after layout)", () => {
    const file = new URL('../../bench/model/vit-small.lily', import.meta.url);
    const checked = checkSource(readFileSync(file, 'utf8'), file.pathname);
    const settings = { Bt: 32, T: 65, L: 1 };
    const contracted = compile(checked, 'ViTLily', { settings, seed: 0, params: 'shapes', until: 'contract' });
    const laid = compile(checked, 'ViTLily', { settings, seed: 0, params: 'shapes' });
    expect(stridedReads(contracted.graph).length).toBeGreaterThan(0);
    expect(stridedReads(laid.graph)).toEqual([]);
    expect(laid.stage).toBe('layout');
  });
});
