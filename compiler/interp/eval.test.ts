import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkSource } from '../frontend.ts';
import { resultJson, runEntry } from './run.ts';
import { instantiate, callMethod } from './instance.ts';
import { fromNested, toNested, type Tensor } from '../../runtime/tensor/index.ts';
import { tv } from './values.ts';
import { Float64Ops, type BinaryOp, type Ops, type TT } from './ops.ts';

const run = (src: string, fn: string, inputs: Record<string, unknown>, settings: Record<string, number | boolean> = {}) => {
  const checked = checkSource(src, 't.lily');
  const out = runEntry(checked, fn, { settings, inputs: new Map(Object.entries(inputs).map(([k, v]) => [k, fromNested(v as never)])) }).output;
  return resultJson(out);
};

describe('reference interpreter: hand-computed values', () => {
  it('matmul, broadcasting add, and a scalar hyper', () => {
    const src = 'fn f(x: [N, D], w: [D, K], b: [K]) -> [N, K] = 2 * (x @ w) + b';
    expect(run(src, 'f', { x: [[1, 2], [3, 4]], w: [[1, 0, 1], [0, 1, 1]], b: [10, 20, 30] })).toEqual([
      [12, 24, 36],
      [16, 28, 44],
    ]);
  });

  it('softmax and mean over named axes', () => {
    const src = 'fn f(x: [N, E]) -> [E] = mean[N](softmax[E](x))';
    const [a, b] = run(src, 'f', { x: [[0, Math.log(3)], [0, 0]] }) as number[];
    // rows: [1/4, 3/4] and [1/2, 1/2]; mean = [3/8, 5/8]
    expect(a).toBeCloseTo(3 / 8, 12);
    expect(b).toBeCloseTo(5 / 8, 12);
  });

  it('the expert comprehension equals the explicit sum', () => {
    const src = 'fn f(p: [E], h: [N, R], B: [E, R, O]) -> [N, O] = sum[e](p[e] * (h @ B[e]))';
    // E=2, N=1, R=2, O=1: p = [2, 3], h = [[1, 1]], B0 = [[1],[2]], B1 = [[10],[20]]
    // 2 * (1 + 2) + 3 * (10 + 20) = 96
    expect(run(src, 'f', { p: [2, 3], h: [[1, 1]], B: [[[1], [2]], [[10], [20]]] })).toEqual([[96]]);
  });

  it('per-token routing p[:, e] broadcasts by name over the output axis', () => {
    const src = 'fn f(p: [N, E], y: [E, N, O]) -> [N, O] = sum[e](p[:, e] * y[e])';
    // N=2, E=2, O=1: out[n] = p[n,0] y[0,n] + p[n,1] y[1,n]
    expect(run(src, 'f', { p: [[1, 2], [3, 4]], y: [[[5], [6]], [[7], [8]]] })).toEqual([[1 * 5 + 2 * 7], [3 * 6 + 4 * 8]]);
  });

  it('kron, reshape, permute, transpose and conditionals on hypers', () => {
    expect(run('fn f(a: [M, K], b: [P, Q]) -> [M * P, K * Q] = kron(a, b)', 'f', { a: [[1, 2]], b: [[0, 1], [1, 0]] })).toEqual([
      [0, 1, 0, 2],
      [1, 0, 2, 0],
    ]);
    expect(run('fn f(x: [N, D]) -> [N, D / 2, 2] = reshape[N, D / 2, 2](x)', 'f', { x: [[1, 2, 3, 4]] })).toEqual([[[1, 2], [3, 4]]]);
    expect(run('fn f(x: [A, B, C]) -> [C, A, B] = permute[2, 0, 1](x)', 'f', { x: [[[1, 2]]] })).toEqual([[[1]], [[2]]]);
    expect(run('fn f(x: [A, B]) -> [B, A] = x.T', 'f', { x: [[1, 2]] })).toEqual([[1], [2]]);
    const rs = 'adapter S(r: Dim = 4, alpha: Float = 8.0, rs: Bool = false) on Linear[In, Out] {\n let s = if rs then alpha / sqrt(r) else alpha / r\n delta(x: [N, In]) -> [N, Out] = s * (x @ base.W)\n}';
    const checked = checkSource(rs, 'rs.lily');
    const x = fromNested([[1]]);
    for (const [flag, scale] of [[false, 2], [true, 4]] as const) {
      const inst = instantiate(checked, 'S', { settings: { In: 1, Out: 1, rs: flag }, given: new Map([['base.W', fromNested([[1]])]]) });
      const out = callMethod(inst, 'delta', [tv(x)]);
      expect(out.kind === 'tensor' && (out.t as Tensor).data[0]).toBeCloseTo(scale, 12);
    }
  });

  it('Lily delta equals an independent loop implementation', () => {
    const checked = checkSource(readFileSync(new URL('../../stdlib/adapters/lily.lily', import.meta.url), 'utf8'), 'lily.lily');
    const [N, In, Out, r, E] = [3, 4, 5, 2, 3];
    const inst = instantiate(checked, 'Lily', { settings: { N, In, Out, r, E, scale: 0.5 }, params: 'random', seed: 3 });
    const x = fromNested(Array.from({ length: N }, (_, n) => Array.from({ length: In }, (_, i) => Math.sin(n * 7 + i))));
    const out = callMethod(inst, 'delta', [tv(x)]);
    const A = inst.tensors.get('A')!.data, R = inst.tensors.get('R')!.data, B = inst.tensors.get('B')!.data;
    const h = (n: number, k: number) => { let s = 0; for (let i = 0; i < In; i++) s += x.data[n * In + i] * A[i * r + k]; return s; };
    const p = new Array(E).fill(0);
    for (let n = 0; n < N; n++) {
      const logits = Array.from({ length: E }, (_, e) => { let s = 0; for (let k = 0; k < r; k++) s += h(n, k) * R[k * E + e]; return s; });
      const m = Math.max(...logits); const z = logits.map((l) => Math.exp(l - m)); const Z = z.reduce((a, b) => a + b);
      z.forEach((v, e) => (p[e] += v / Z / N));
    }
    for (let n = 0; n < N; n++)
      for (let o = 0; o < Out; o++) {
        let want = 0;
        for (let e = 0; e < E; e++) for (let k = 0; k < r; k++) want += p[e] * h(n, k) * B[(e * r + k) * Out + o];
        expect(out.kind === 'tensor' && (out.t as Tensor).data[n * Out + o]).toBeCloseTo(0.5 * want, 10);
      }
  });
});

describe('reference interpreter: temporaries written over', () => {
  const x = [[1.5, -2, 0.25], [3, 0.1, -7]];
  const w = [[0.3, 2, -1], [1e-3, 4, 0.5], [-2, 0.7, 9]];
  /** runs with Float64Ops, recording each binary op's operands, result and the operand it was told is dead */
  const spied = (src: string) => {
    const calls: { op: BinaryOp; args: TT[]; out: Tensor; dead?: TT }[] = [];
    const ops: Ops = {
      ...Float64Ops,
      binary: (op, a, b, dead) => {
        const out = Float64Ops.binary(op, a, b, dead) as Tensor;
        calls.push({ op, args: [a, b], out, dead });
        return out;
      },
      binaryScalar: (op, v, k, first, dead) => {
        const out = Float64Ops.binaryScalar!(op, v, k, first, dead) as Tensor;
        calls.push({ op, args: [v], out, dead });
        return out;
      },
    };
    const inputs = new Map([['x', fromNested(x)], ['w', fromNested(w)]]);
    const out = runEntry(checkSource(src, 't.lily'), 'f', { settings: {}, inputs, ops }).output;
    return { calls, out: resultJson(out) as number[][], inputs };
  };
  const xw = (f: (v: number) => number) => x.map((row) => w[0].map((_, j) => f(row.reduce((s, v, k) => s + v * w[k][j], 0))));

  it("PiSSA's `W − s·(A @ B)` shape: A @ B's array takes s·(A @ B), then the difference; the numbers of new arrays, the inputs left alone", () => {
    const { calls, out, inputs } = spied('fn f(x: [N, D], w: [D, D]) -> [N, D] = x - 0.5 * (x @ w)');
    expect(calls.map((c) => [c.op, c.dead !== undefined])).toEqual([['*', true], ['-', true]]);
    expect(calls[1]!.out.data, 'the difference is written where the product was').toBe(calls[0]!.out.data);
    expect(out).toEqual(x.map((row, i) => row.map((v, j) => v - 0.5 * xw((y) => y)[i]![j]!)));
    expect(toNested(inputs.get('x')!)).toEqual(x);
    expect(toNested(inputs.get('w')!)).toEqual(w);
  });

  it('a value bound to a name is never written over, though an arithmetic op made it (`let y = x @ w in 2 * y + y` is 3·(x @ w))', () => {
    const { calls, out } = spied('fn f(x: [N, D], w: [D, D]) -> [N, D] = let y = x @ w in 2 * y + y');
    expect(calls.map((c) => [c.op, c.dead !== undefined])).toEqual([['*', false], ['+', true]]);
    expect(out).toEqual(xw((y) => 2 * y + y));
    // and an operand broadcast to the result's shape is a new array, not the temporary
    const row = spied('fn f(x: [N, D], w: [D, D]) -> [N, D] = (x @ w) + (x @ w)[0]');
    expect(row.out).toEqual(xw((y) => y).map((r) => r.map((v, j) => v + xw((y) => y)[0]![j]!)));
  });

  it('Float64Ops writes over only the arrays its own arithmetic made, whatever it is told', () => {
    const a = fromNested([1, 2, 3]);
    const b = fromNested([4, 5, 6]);
    expect((Float64Ops.binary('+', a, b, a) as Tensor).data, 'a leaf value').not.toBe(a.data);
    expect(toNested(a)).toEqual([1, 2, 3]);
    const made = Float64Ops.binary('*', a, b) as Tensor;
    expect((Float64Ops.binary('-', made, a, made) as Tensor).data).toBe(made.data);
    expect(toNested(made)).toEqual([3, 8, 15]);
  });
});
