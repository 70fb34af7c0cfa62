import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkSource } from '../frontend.ts';
import { explain } from '../explain.ts';
import { einsumFlops } from '../ir/prims/einsum.ts';
import { optimalOrder, optimalOrderGeneral, type Net, type Tree } from './contract.ts';

const lilySrc = readFileSync(new URL('../../stdlib/adapters/lily.lily', import.meta.url), 'utf8');
const lily = checkSource(lilySrc, 'stdlib/adapters/lily.lily');
const PAPER = { N: 1024, In: 768, Out: 768, r: 16, E: 4 };

/** Every binary tree over the operands, by brute force (the oracle for the DP). */
function bruteForce(net: Net): number {
  const full = (1 << net.subs.length) - 1;
  const kept = (mask: number) => {
    if (mask === full) return net.out;
    const inside = new Set<string>();
    const outside = new Set<string>(net.out);
    net.subs.forEach((s, i) => [...s].forEach((c) => ((mask >> i) & 1 ? inside : outside).add(c)));
    return [...inside].filter((c) => outside.has(c)).join('');
  };
  const memo = new Map<number, number>();
  const best = (mask: number): number => {
    if (memo.has(mask)) return memo.get(mask)!;
    let cost = Infinity;
    if ((mask & (mask - 1)) === 0) {
      const i = Math.log2(mask);
      const k = net.subs.length === 1 ? net.out : kept(mask);
      cost = new Set(net.subs[i]).size === k.length ? 0 : [...net.subs[i]].reduce((p, c) => p * net.sizes.get(c)!, 1) + [...k].reduce((p, c) => p * net.sizes.get(c)!, 1);
    } else
      for (let sub = (mask - 1) & mask; sub; sub = (sub - 1) & mask) {
        const a = sub;
        const b = mask ^ sub;
        const la = kept(a);
        const lb = kept(b);
        const lo = kept(mask);
        const pair = einsumFlops({ ins: [la, lb], out: lo }, net.sizes) + [...lo].reduce((p, c) => p * net.sizes.get(c)!, 1);
        cost = Math.min(cost, best(a) + best(b) + pair);
      }
    memo.set(mask, cost);
    return cost;
  };
  return best(full);
}

const netArb = fc
  .record({ n: fc.integer({ min: 2, max: 5 }), letters: fc.integer({ min: 2, max: 5 }), sizes: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 5, maxLength: 5 }), seed: fc.nat() })
  .map(({ n, letters, sizes, seed }) => {
    let s = seed;
    const rnd = (k: number) => (s = (s * 1103515245 + 12345) >>> 0) % k;
    const L = 'abcde'.slice(0, letters);
    const subs = Array.from({ length: n }, () => [...new Set(Array.from({ length: 1 + rnd(3) }, () => L[rnd(letters)]))].join(''));
    const used = [...new Set(subs.join(''))];
    const out = used.filter(() => rnd(2) === 0).join('');
    return { subs, out, sizes: new Map(used.map((c) => [c, sizes[L.indexOf(c)]])) } as Net;
  });

describe('contraction-order optimiser', () => {
  it('finds the cheapest tree (dynamic programming equals brute force)', () => {
    fc.assert(
      fc.property(netArb, (net) => {
        expect(optimalOrder(net).cost).toBe(bruteForce(net));
      }),
      { seed: 5, numRuns: 200 },
    );
  });

  it('finds the same tree with letter bit sets as with letter strings (ties broken alike)', () => {
    const wide = fc
      .record({ n: fc.integer({ min: 2, max: 7 }), letters: fc.integer({ min: 2, max: 9 }), seed: fc.nat() })
      .map(({ n, letters, seed }) => {
        let s = seed;
        const rnd = (k: number) => (s = (s * 1103515245 + 12345) >>> 0) % k;
        const L = 'abcdefghi'.slice(0, letters);
        const subs = Array.from({ length: n }, () => Array.from({ length: 1 + rnd(4) }, () => L[rnd(letters)]).join(''));
        const used = [...new Set(subs.join(''))];
        const out = used.filter(() => rnd(2) === 0).join('');
        // sizes from a few values, so that equal costs (ties) are common
        return { subs, out, sizes: new Map(used.map((c) => [c, [1, 2, 4, 16][rnd(4)]])) } as Net;
      });
    fc.assert(
      fc.property(wide, (net) => {
        expect(optimalOrder(net)).toEqual(optimalOrderGeneral(net));
      }),
      { seed: 11, numRuns: 400 },
    );
  });

  it("names each intermediate by the letters still needed outside it, sorted (the subsets' kept letters, against sets)", () => {
    const kept = (net: Net, mask: number) => {
      const inside = new Set<string>();
      const outside = new Set<string>(net.out);
      net.subs.forEach((s, i) => [...s].forEach((c) => ((mask >> i) & 1 ? inside : outside).add(c)));
      return [...inside].filter((c) => outside.has(c)).sort().join('');
    };
    fc.assert(
      fc.property(netArb, (net) => {
        const full = (1 << net.subs.length) - 1;
        const walk = (t: Tree): void => {
          if (t.mask === full) expect(t.letters).toBe(net.out);
          else if (t.left) expect(t.letters).toBe(kept(net, t.mask));
          if (t.left) walk(t.left);
          if (t.right) walk(t.right);
        };
        walk(optimalOrder(net));
      }),
      { seed: 7, numRuns: 300 },
    );
  });
  it('reproduces the FLOP figures of the Lily paper, appendix A.2 (N=1024, r=16, C=768, E=4)', () => {
    const e = explain(lily, 'Lily', PAPER);
    const fold = e.rewrites.find((r) => r.program === 'forward' && r.folds.some((f) => f.applied));
    expect(fold, 'the forward expert-sum fold').toBeDefined();
    // Paper: naive E·(2NrC + rC + NC) ≈ 0.104 GFLOP; rewritten 2rC(N + E) ≈ 0.025 GFLOP.
    const { N, r, Out: C, E } = PAPER;
    expect(fold!.flops.after).toBeCloseTo(2 * r * C * (N + E), -3);
    expect(Math.abs(fold!.flops.before - E * (2 * N * r * C + r * C + N * C)) / 1.04e8).toBeLessThan(0.04);
    expect(e.flops.forward.rewritten.optimized).toBe(fold!.flops.after);
    expect(e.flops.forward.rewritten.naive).toBe(fold!.flops.before);
    expect(e.flops.forward.optimized).toBeLessThan(e.flops.forward.naive / 2.5);
    expect(e.flops.backward.optimized).toBeLessThan(e.flops.backward.naive / 2.5);
    expect(e.mergeable).toBe(false);
    expect(e.mergeReason).toContain('softmax');
  });

  it('finds the fold in the backward program too: dh = dY (Σ_e p[e] B[e])ᵀ and dB[e] = p[e] · hᵀdY', () => {
    const e = explain(lily, 'Lily', PAPER);
    const bwd = e.rewrites.filter((r) => r.program === 'backward' && r.applied);
    expect(bwd.some((r) => r.folds.some((f) => f.applied))).toBe(true);
    // dB = (h · dy) first — one matmul — then scaled by p: an [E, r, Out] result.
    expect(bwd.some((r) => /^\(\(h\[N, r\] · dy\[N, [^\]]+\]\) · /.test(r.order))).toBe(true);
  });

  it('refuses the fold for a per-token router (LilyToken) and says why', () => {
    const e = explain(lily, 'LilyToken', PAPER);
    const refused = e.rewrites.flatMap((r) => r.folds).filter((f) => !f.applied);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0].reason).toMatch(/varies per token/);
    expect(e.rewrites.flatMap((r) => r.folds).some((f) => f.applied && /E/.test(f.index))).toBe(false);
    expect(e.flops.forward.optimized).toBeGreaterThan(e.flops.forward.naive * 0.9); // no big win is possible
  });
});

/** Greedy by the textbook: repeatedly contract the pair whose own cost is least (the oracle). */
function greedyReference(net: Net): number {
  const full = (1 << net.subs.length) - 1;
  const size = (ls: string) => [...ls].reduce((p, c) => p * net.sizes.get(c)!, 1);
  const kept = (mask: number) => {
    if (mask === full) return net.out;
    const inside = new Set<string>();
    const outside = new Set<string>(net.out);
    net.subs.forEach((s, i) => [...s].forEach((c) => ((mask >> i) & 1 ? inside : outside).add(c)));
    return [...inside].filter((c) => outside.has(c)).sort().join('');
  };
  let pool = net.subs.map((s, i) => {
    const k = net.subs.length === 1 ? net.out : kept(1 << i);
    const pre = new Set(s).size === k.length ? 0 : size(s) + size(k);
    return { mask: 1 << i, letters: new Set(s).size === k.length ? s : k, cost: pre };
  });
  while (pool.length > 1) {
    let best: { i: number; j: number; pair: number } | undefined;
    for (let i = 0; i < pool.length; i++)
      for (let j = i + 1; j < pool.length; j++) {
        const lo = kept(pool[i].mask | pool[j].mask);
        const pair = einsumFlops({ ins: [pool[i].letters, pool[j].letters], out: lo }, net.sizes) + size(lo);
        if (!best || pair < best.pair) best = { i, j, pair };
      }
    const { i, j, pair } = best!;
    const merged = { mask: pool[i].mask | pool[j].mask, letters: kept(pool[i].mask | pool[j].mask), cost: pool[i].cost + pool[j].cost + pair };
    pool = [...pool.filter((_, k) => k !== i && k !== j), merged];
  }
  return pool[0].cost;
}

describe('greedy contraction order (used above 10 operands)', () => {
  it('merges the pair of least own cost at each step (against a textbook greedy), never beating the optimum', async () => {
    const { greedyOrder } = await import('./contract.ts');
    fc.assert(
      fc.property(netArb, (net) => {
        const g = greedyOrder(net);
        expect(g.letters).toBe(net.out);
        expect(g.cost).toBe(greedyReference(net));
        expect(g.cost).toBeGreaterThanOrEqual(optimalOrder(net).cost);
      }),
      { seed: 8, numRuns: 300 },
    );
  });
});

describe('the forward-only program (evaluation, predict) is optimised too', () => {
  it('folds the experts exactly as the forward of the full program does', async () => {
    const { compile, flopsSplit } = await import('../pipeline.ts');
    const forward = compile(lily, 'Lily', { settings: PAPER, seed: 0, forwardOnly: true });
    const full = compile(lily, 'Lily', { settings: PAPER, seed: 0 });
    const naive = compile(lily, 'Lily', { settings: PAPER, seed: 0, forwardOnly: true, until: 'hoist' });
    expect(forward.graph.outputs.has('grad:A'), 'no backward program').toBe(false);
    expect(flopsSplit(forward.graph).forward).toBe(flopsSplit(full.graph).forward);
    // the unfolded forward costs N·Out·E·r multiply-adds more; the folded one stays near 2·N·r·(In + Out)
    expect(flopsSplit(forward.graph).forward).toBeLessThan(flopsSplit(naive.graph).forward / 2);
  });
});
