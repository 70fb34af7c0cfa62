// The fusion pass against the IR evaluator: every stdlib adapter's optimised forward+backward,
// planned into kernels and run by the reference kernel executor, equals the graph's values.
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../frontend.ts';
import { evaluateOutputs } from '../ir/evaluate.ts';
import { compile } from '../pipeline.ts';
import * as T from '../../runtime/tensor/index.ts';
import { planKernels } from './fuse.ts';
import type { KExpr } from './kernel-ir.ts';
import { LilyError } from '../diagnostics.ts';
import { runPlanReference } from './reference.ts';

const dir = new URL('../../stdlib/adapters/', import.meta.url);

const files = readdirSync(dir).filter((f) => f.endsWith('.lily'));

/** Buffers a body loads, not counting those inside nested reduces. */
function directLoads(e: KExpr, out = new Set<number>()): Set<number> {
  if (e.k === 'load') out.add(e.buf);
  else if (e.k === 'unary' || e.k === 'unaryGrad') directLoads(e.a, out);
  else if (e.k === 'bin') directLoads(e.b, directLoads(e.a, out));
  return out;
}

/** Contractions in a kernel body: sums of products of two or more buffers (a softmax's max and sum are not). */
function contractions(e: KExpr): number {
  switch (e.k) {
    case 'reduce':
      return (e.op === 'sum' && directLoads(e.body).size >= 2 ? 1 : 0) + contractions(e.body);
    case 'unary':
    case 'unaryGrad':
      return contractions(e.a);
    case 'bin':
      return contractions(e.a) + contractions(e.b);
    default:
      return 0;
  }
}

describe('fusion: kernel plans compute what the graph computes', () => {
  for (const f of files) {
    const checked = checkSource(readFileSync(new URL(f, dir), 'utf8'), f);
    for (const [name, unit] of checked.units) {
      if (unit.decl.kind !== 'adapter') continue;
      it(`${name}: every kernel output equals the IR evaluator`, () => {
        fc.assert(
          fc.property(fc.record({ N: fc.integer({ min: 1, max: 4 }), In: fc.integer({ min: 2, max: 5 }), Out: fc.integer({ min: 1, max: 4 }), r: fc.integer({ min: 1, max: 3 }), E: fc.integer({ min: 2, max: 3 }) }), (dims) => {
            const settings = { ...dims, In: dims.In * 2, n: 2, f: 2, rh: 2, P: 2, k: 1, h: 2, b: 2 };
            let p;
            try {
              p = compile(checked, name, { settings, seed: 5 });
            } catch (e) {
              // Only sizes the adapter's dimension arithmetic rejects are skipped; any other error fails.
              if (!(e instanceof LilyError && e.diagnostics.every((d) => d.code === 'E-size'))) throw e;
              fc.pre(false);
              return;
            }
            const plan = planKernels(p.graph);
            const feeds = new Map(p.leaves);
            for (const [k, v] of plan.constants) feeds.set(k, { shape: plan.buffers[plan.leaves.get(k)!].shape, data: v });
            const got = runPlanReference(plan, feeds);
            const want = evaluateOutputs(p.graph, p.leaves);
            for (const [k, v] of want) {
              const c = T.allClose(got.get(k)!, v, { rtol: 1e-9, atol: 1e-12 });
              expect(c.ok, `${k} at [${c.index}]`).toBe(true);
            }
            // Fusion happened: fewer kernels than non-leaf nodes, and at most one contraction each.
            expect(plan.kernels.length).toBeLessThan(p.graph.live().length);
            for (const k of plan.kernels) expect(contractions(k.body), `${k.name}: contractions in one kernel`).toBeLessThanOrEqual(1);
          }),
          { seed: 9, numRuns: 4 },
        );
      });
    }
  }
});

describe('fusion: reshapes are read in place', () => {
  it("a multi-head encoder's reshapes and scaled reads feed its products without copy kernels, and the plan equals the graph", () => {
    // the whole-model benchmark's encoder at a tiny size (training graph: forward and backward)
    const file = new URL('../../bench/model/vit-small.lily', import.meta.url);
    const checked = checkSource(readFileSync(file, 'utf8'), 'vit-small.lily');
    for (const model of ['ViTLily', 'ViTLoRA']) {
      const p = compile(checked, model, { settings: { Bt: 2, T: 6, D: 8, heads: 2, F: 8, L: 1 }, seed: 5 });
      const plan = planKernels(p.graph);
      // a kernel whose body loads another buffer at its own flat index is a copy of it: none is left
      // (a head permute is a real data movement and stays)
      // (nor a copy times a constant: attention's q · rsqrt(K) becomes the scores GEMM's alpha)
      const identity = (k: (typeof plan.kernels)[number]) => {
        let e = k.body;
        if (e.k === 'bin' && e.op === '*' && e.a.k === 'const') e = e.b;
        else if (e.k === 'bin' && e.op === '*' && e.b.k === 'const') e = e.a;
        if (e.k !== 'load' || e.at.offset !== 0) return false;
        const coef = new Map(e.at.terms.map((t) => [t.v, t.c]));
        let stride = 1;
        for (let i = k.loops.length - 1; i >= 0; i--) {
          if (k.loops[i]!.extent !== 1 && coef.get(k.loops[i]!.v) !== stride) return false;
          stride *= k.loops[i]!.extent;
        }
        return true;
      };
      const copies = plan.kernels.filter(identity).map((k) => k.name);
      expect(copies, model).toEqual([]);
      const feeds = new Map(p.leaves);
      for (const [k, v] of plan.constants) feeds.set(k, { shape: plan.buffers[plan.leaves.get(k)!].shape, data: v });
      const got = runPlanReference(plan, feeds);
      for (const [k, v] of evaluateOutputs(p.graph, p.leaves)) {
        const c = T.allClose(got.get(k)!, v, { rtol: 1e-9, atol: 1e-12 });
        expect(c.ok, `${model} ${k} at [${c.index}]`).toBe(true);
      }
    }
  });
});
