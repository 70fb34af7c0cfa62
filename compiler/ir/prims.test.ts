// Every primitive's VJP against central finite differences in float64, on random inputs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../../runtime/tensor/index.ts';
import { vjp } from '../autodiff/vjp.ts';
import { evaluateGraph } from './evaluate.ts';
import { Graph, type Id } from './graph.ts';
import { allPrims } from './prims.ts';

/** A sample application of each differentiable primitive: inputs' shapes and attributes. */
type Sample = { shapes: number[][]; attrs: Record<string, unknown>; positive?: boolean };
const SAMPLES: Record<string, Sample[]> = {
  einsum: [
    { shapes: [[2, 3], [3, 4]], attrs: { spec: 'ab,bc->ac' } },
    { shapes: [[2], [2, 3, 4], [3]], attrs: { spec: 'e,erc,r->c' } },
    { shapes: [[], [2, 3]], attrs: { spec: ',ab->ba' } },
    { shapes: [[2, 3]], attrs: { spec: 'ab->a' } },
    { shapes: [[2, 3], [2, 3]], attrs: { spec: 'ab,ab->ab' } },
  ],
  add: [{ shapes: [[2, 3], [2, 3]], attrs: {} }],
  map: ['exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'silu', 'gelu', 'softplus', 'recip', 'square', 'sin', 'cos', 'relu', 'abs', 'heaviside', 'floor'].map((fn) => ({
    shapes: [[3, 2]],
    attrs: { fn },
    positive: ['log', 'sqrt', 'rsqrt', 'recip'].includes(fn),
  })),
  pow: [{ shapes: [[2, 2], [2, 2]], attrs: {}, positive: true }],
  broadcast: [
    { shapes: [[3]], attrs: { shape: [2, 3], map: [1] } },
    { shapes: [[2, 1]], attrs: { shape: [2, 4], map: [0, 1] } },
  ],
  reshape: [{ shapes: [[2, 3]], attrs: { shape: [3, 2] } }],
  take: [{ shapes: [[3, 2]], attrs: { axis: 0, index: 1 } }],
  untake: [{ shapes: [[2]], attrs: { axis: 0, index: 2, size: 3 } }],
  softmax: [{ shapes: [[2, 3]], attrs: { axis: 1 } }, { shapes: [[2, 3]], attrs: { axis: 0 } }],
  // Each axis, not only the last: a gradient reduced over the wrong axis passes a last-axis sample.
  log_softmax: [{ shapes: [[2, 3]], attrs: { axis: 1 } }, { shapes: [[2, 3]], attrs: { axis: 0 } }, { shapes: [[2, 3, 2]], attrs: { axis: 1 } }],
  stopgrad: [{ shapes: [[2]], attrs: {} }],
  reduce_max: [{ shapes: [[2, 3]], attrs: { axes: [1] } }, { shapes: [[2, 3]], attrs: { axes: [0, 1] } }],
  reduce_min: [{ shapes: [[3, 2]], attrs: { axes: [0] } }],
  topk_mask: [{ shapes: [[2, 4]], attrs: { axis: 1, k: 2 } }],
  slice: [{ shapes: [[2, 5]], attrs: { axis: 1, lo: 1, hi: 4 } }, { shapes: [[4, 3]], attrs: { axis: 0, lo: 0, hi: 2 } }],
};

describe('primitive VJPs', () => {
  it('every differentiable primitive has samples here', () => {
    const missing = allPrims().filter((p) => p.vjp && !SAMPLES[p.name]);
    expect(missing.map((p) => p.name)).toEqual([]);
  });

  for (const [op, samples] of Object.entries(SAMPLES))
    for (const sample of samples)
      it(`${op} ${JSON.stringify(sample.attrs)} matches finite differences`, () => {
        fc.assert(
          fc.property(fc.integer({ min: 0, max: 1e6 }), (seed) => {
            let s = seed;
            const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
            const values = sample.shapes.map((shape) =>
              T.tensor(shape, Float64Array.from({ length: T.numel(shape) }, () => (sample.positive ? 0.5 + Math.abs(rand()) : rand() + (rand() > 0 ? 0.05 : -0.05)))),
            );
            const g = new Graph();
            const leaves = new Map<string, T.Tensor>();
            const ins: Id[] = values.map((v, i) => {
              leaves.set(`in${i}`, v);
              return g.add('param', [], { name: `in${i}`, shape: v.shape, trainable: true });
            });
            const y = g.add(op, ins, sample.attrs);
            const yShape = g.shape(y);
            const ctv = T.tensor(yShape, Float64Array.from({ length: T.numel(yShape) }, rand));
            leaves.set('ct', ctv);
            const ct = g.add('input', [], { name: 'ct', shape: yShape });
            const grads = vjp(g, y, ct, ins);
            const vals = evaluateGraph(g, leaves, [...grads.values()]);
            const loss = (ls: Map<string, T.Tensor>) => {
              const out = evaluateGraph(g, ls, [y]).get(y)!;
              return out.data.reduce((acc, v, i) => acc + v * ctv.data[i], 0);
            };
            ins.forEach((id, i) => {
              if (op === 'stopgrad') return;
              const grad = vals.get(grads.get(id)!)!;
              for (let j = 0; j < values[i].data.length; j++) {
                const h = 1e-6;
                const at = (d: number) => {
                  const v = T.tensor(values[i].shape, values[i].data);
                  v.data[j] += d;
                  return loss(new Map(leaves).set(`in${i}`, v));
                };
                const fd = (at(h) - at(-h)) / (2 * h);
                expect(Math.abs(grad.data[j] - fd), `${op} input ${i} entry ${j}: autodiff ${grad.data[j]} vs fd ${fd}`).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
              }
            });
          }),
          { seed: 3, numRuns: 5 },
        );
      });

  it('max shares its gradient among ties (as torch.amax)', () => {
    const g = new Graph();
    const p = g.add('param', [], { name: 'p', shape: [4], trainable: true });
    const y = g.add('reduce_max', [p], { axes: [0] });
    const ct = g.add('input', [], { name: 'ct', shape: [] });
    const grads = vjp(g, y, ct, [p]);
    const vals = evaluateGraph(g, new Map([['p', T.tensor([4], Float64Array.of(1, 3, 3, -2))], ['ct', T.scalar(2)]]), [grads.get(p)!]);
    expect([...vals.get(grads.get(p)!)!.data]).toEqual([0, 1, 1, 0]);
  });

  it('stopgrad passes no gradient', () => {
    const g = new Graph();
    const p = g.add('param', [], { name: 'p', shape: [2], trainable: true });
    const y = g.add('stopgrad', [p]);
    const ct = g.add('input', [], { name: 'ct', shape: [2] });
    const grads = vjp(g, y, ct, [p]);
    expect(g.node(grads.get(p)!).op).toBe('fill');
  });
});
