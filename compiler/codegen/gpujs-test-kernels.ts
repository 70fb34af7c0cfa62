// Hand-built kernels and plans for testing kernel renderers against runPlanReference: each builder
// takes its shape and returns a one-kernel plan whose leaves are its inputs and whose output is
// 'out'. Shared by compiler/codegen/gpujs.test.ts and runtime/backends/gpujs-exec.test.ts.
import { affine, type BufferInfo, type Kernel, type KernelPlan, type KExpr } from '../fuse/kernel-ir.ts';
import type { UnaryName } from '../../runtime/tensor/index.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';

export const load = (buf: number, terms: [string, number][], offset = 0): KExpr => ({ k: 'load', buf, at: affine(terms.map(([v, c]) => ({ v, c })), offset) });
export const c = (v: number): KExpr => ({ k: 'const', v });
export const arg = (name: string): KExpr => ({ k: 'arg', name });
export const un = (fn: UnaryName, a: KExpr): KExpr => ({ k: 'unary', fn, a });
export const ung = (fn: UnaryName, a: KExpr): KExpr => ({ k: 'unaryGrad', fn, a });
export const bin = (op: '+' | '-' | '*' | '/' | 'pow' | 'max', a: KExpr, b: KExpr): KExpr => ({ k: 'bin', op, a, b });
export const sum = (vars: [string, number][], body: KExpr): KExpr => ({ k: 'reduce', op: 'sum', vars: vars.map(([v, extent]) => ({ v, extent })), body });
export const max = (vars: [string, number][], body: KExpr): KExpr => ({ k: 'reduce', op: 'max', vars: vars.map(([v, extent]) => ({ v, extent })), body });

const numel = (s: number[]) => s.reduce((p, d) => p * d, 1);

/** A plan of kernels over named buffers; leaves are the buffers no kernel writes. */
export function planOf(
  bufs: { name: string; shape: number[]; kind?: BufferInfo['kind'] }[],
  kernels: (Omit<Kernel, 'out' | 'inputs' | 'flops' | 'bytes' | 'nodes' | 'kind'> & { out: string; kind?: Kernel['kind'] })[],
  outputs: [string, string][],
  args: string[] = [],
): KernelPlan {
  const id = new Map(bufs.map((b, i) => [b.name, i]));
  const written = new Set(kernels.map((k) => k.out));
  const buffers: BufferInfo[] = bufs.map((b, i) => ({ id: i, shape: b.shape, size: numel(b.shape), kind: b.kind ?? (written.has(b.name) ? 'temp' : 'input'), name: b.name }));
  const loads = (e: KExpr, out = new Set<number>()): Set<number> => {
    if (e.k === 'load') out.add(e.buf);
    if (e.k === 'unary' || e.k === 'unaryGrad') loads(e.a, out);
    if (e.k === 'bin') (loads(e.a, out), loads(e.b, out));
    if (e.k === 'reduce') loads(e.body, out);
    return out;
  };
  return {
    buffers,
    kernels: kernels.map((k) => ({ ...k, kind: k.kind ?? 'elementwise', out: id.get(k.out)!, inputs: [...loads(k.body)], flops: 0, bytes: 0, nodes: [] })),
    outputs: new Map(outputs.map(([name, b]) => [name, id.get(b)!])),
    leaves: new Map(bufs.filter((b) => !written.has(b.name)).map((b) => [b.name, id.get(b.name)!])),
    args,
    slots: new Map(),
    slotSizes: [],
  };
}

export interface Case {
  plan: KernelPlan;
  /** names of the plan's leaves with the value range to draw them from */
  ranges: Record<string, [number, number]>;
  args: Record<string, number>;
}

/** out[i,j] = gelu(Σ_k A[i,k]·B[k,j] + bias[j]) · scale — GEMM with an epilogue and an arg. */
export function matmulEpilogue(M: number, K: number, N: number): Case {
  const body = bin('*', un('gelu', bin('+', sum([['k', K]], bin('*', load(0, [['i', K], ['k', 1]]), load(1, [['k', N], ['j', 1]]))), load(2, [['j', 1]]))), arg('scale'));
  const plan = planOf(
    [{ name: 'A', shape: [M, K] }, { name: 'B', shape: [K, N] }, { name: 'bias', shape: [N] }, { name: 'out', shape: [M, N] }],
    [{ name: 'matmul', kind: 'contraction', out: 'out', loops: [{ v: 'i', extent: M }, { v: 'j', extent: N }], body }],
    [['out', 'out']],
    ['scale'],
  );
  return { plan, ranges: { A: [-1, 1], B: [-1, 1], bias: [-1, 1] }, args: { scale: 0.75 } };
}

/**
 * out[a,b,c] = sigmoid(x[a,b,c]·g[c]) · tanh(h[b]) + silu(yT[c,b,a]) − softplus(x[a,b,c]) / 2 + max(x, 0.25)
 * — rank 3 (a split thread index), broadcast loads (g, h) and a transposed load (yT).
 */
export function elementwiseBroadcast(A: number, B: number, C: number): Case {
  const x = load(0, [['a', B * C], ['b', C], ['c', 1]]);
  const body = bin(
    '+',
    bin(
      '-',
      bin('+', bin('*', un('sigmoid', bin('*', x, load(1, [['c', 1]]))), un('tanh', load(2, [['b', 1]]))), un('silu', load(3, [['c', B * A], ['b', A], ['a', 1]]))),
      bin('/', un('softplus', x), c(2)),
    ),
    bin('max', x, c(0.25)),
  );
  const plan = planOf(
    [{ name: 'x', shape: [A, B, C] }, { name: 'g', shape: [C] }, { name: 'h', shape: [B] }, { name: 'yT', shape: [C, B, A] }, { name: 'out', shape: [A, B, C] }],
    [{ name: 'chain', out: 'out', loops: [{ v: 'a', extent: A }, { v: 'b', extent: B }, { v: 'c', extent: C }], body }],
    [['out', 'out']],
  );
  return { plan, ranges: { x: [-3, 3], g: [-2, 2], h: [-2, 2], yT: [-3, 3] }, args: {} };
}

/** out[i,j] = exp(x[i,j] − max_k x[i,k]) / Σ_k exp(x[i,k] − max_m x[i,m]) — softmax as nested reduces. */
export function softmax(R: number, C: number): Case {
  const rowMax = max([['m', C]], load(0, [['i', C], ['m', 1]]));
  const body = bin('/', un('exp', bin('-', load(0, [['i', C], ['j', 1]]), rowMax)), sum([['k', C]], un('exp', bin('-', load(0, [['i', C], ['k', 1]]), rowMax))));
  const plan = planOf(
    [{ name: 'x', shape: [R, C] }, { name: 'out', shape: [R, C] }],
    [{ name: 'softmax', kind: 'reduction', out: 'out', loops: [{ v: 'i', extent: R }, { v: 'j', extent: C }], body }],
    [['out', 'out']],
  );
  return { plan, ranges: { x: [-6, 6] }, args: {} };
}

/** out[j] = Σ_{i,k} x[i,j,k]^2 / (1 + max_{i,k} |x[i,j,k]|) — reductions over two variables (pow with a negative base). */
export function reduce2(I: number, J: number, K: number): Case {
  const x = load(0, [['i', J * K], ['j', K], ['k', 1]]);
  const body = bin('/', sum([['i', I], ['k', K]], bin('pow', x, c(2))), bin('+', c(1), max([['i', I], ['k', K]], un('abs', x))));
  const plan = planOf(
    [{ name: 'x', shape: [I, J, K] }, { name: 'out', shape: [J] }],
    [{ name: 'reduce2', kind: 'reduction', out: 'out', loops: [{ v: 'j', extent: J }], body }],
    [['out', 'out']],
  );
  return { plan, ranges: { x: [-2, 2] }, args: {} };
}

/** out[i] = p[i] − lr·m[i] / (sqrt(v[i]) + eps) + pow(p[i], e) — an optimiser-style kernel with three args. */
export function argKernel(n: number, e: number): Case {
  const p = load(0, [['i', 1]]);
  const body = bin('+', bin('-', p, bin('/', bin('*', arg('lr'), load(1, [['i', 1]])), bin('+', un('sqrt', load(2, [['i', 1]])), arg('eps')))), bin('pow', p, arg('e')));
  const plan = planOf(
    [{ name: 'p', shape: [n], kind: 'param' }, { name: 'm', shape: [n] }, { name: 'v', shape: [n] }, { name: 'out', shape: [n] }],
    [{ name: 'update', out: 'out', loops: [{ v: 'i', extent: n }], body }],
    [['out', 'out']],
    ['lr', 'eps', 'e'],
  );
  return { plan, ranges: { p: [-1.5, 1.5], m: [-1, 1], v: [0.01, 1] }, args: { lr: 0.01, eps: 1e-8, e } };
}

/** out[i] = Σ_{k<K} x[i,k] — with K = 1500 a loop bound that is not a literal would be cut at 1000. */
export function longReduce(R: number, K: number): Case {
  const plan = planOf(
    [{ name: 'x', shape: [R, K] }, { name: 'out', shape: [R] }],
    [{ name: 'rowsum', kind: 'reduction', out: 'out', loops: [{ v: 'i', extent: R }], body: sum([['k', K]], load(0, [['i', K], ['k', 1]])) }],
    [['out', 'out']],
  );
  return { plan, ranges: { x: [0.5, 1] }, args: {} };
}

/** out[i] = f(x[i]) or f'(x[i]) for one unary function. */
export function unaryKernel(fn: UnaryName, grad: boolean, n: number, range: [number, number]): Case {
  const x = load(0, [['i', 1]]);
  const plan = planOf(
    [{ name: 'x', shape: [n] }, { name: 'out', shape: [n] }],
    [{ name: `${grad ? 'd' : ''}${fn}`, out: 'out', loops: [{ v: 'i', extent: n }], body: grad ? ung(fn, x) : un(fn, x) }],
    [['out', 'out']],
  );
  return { plan, ranges: { x: range }, args: {} };
}

/**
 * A LoRA training step, 7 kernels: h = x·A; y = x·W + s·h·Bm; p = softmax(y); loss = −Σ t·log p / N;
 * gy = (p − t)/N; gBm = s·hᵀ·gy; Bm' = Bm − lr·gBm. Outputs y, loss, grad:Bm, param:Bm.
 */
export function loraStepPlan(N: number, D: number, O: number, R: number): Case {
  const x = (v: string) => load(0, [['b', D], [v, 1]]);
  const rowMax = max([['m', O]], load(5, [['b', O], ['m', 1]]));
  const soft = (j: string) => bin('/', un('exp', bin('-', load(5, [['b', O], [j, 1]]), rowMax)), sum([['q', O]], un('exp', bin('-', load(5, [['b', O], ['q', 1]]), rowMax))));
  const plan = planOf(
    [
      { name: 'x', shape: [N, D] }, // 0
      { name: 'W', shape: [D, O], kind: 'param' }, // 1
      { name: 'A', shape: [D, R], kind: 'param' }, // 2
      { name: 'Bm', shape: [R, O], kind: 'param' }, // 3
      { name: 'h', shape: [N, R] }, // 4
      { name: 'y', shape: [N, O] }, // 5
      { name: 'p', shape: [N, O] }, // 6
      { name: 'loss', shape: [] }, // 7
      { name: 'gy', shape: [N, O] }, // 8
      { name: 'gBm', shape: [R, O] }, // 9
      { name: 'Bm2', shape: [R, O] }, // 10
      { name: 't', shape: [N, O] }, // 11
    ],
    [
      { name: 'h', kind: 'contraction', out: 'h', loops: [{ v: 'b', extent: N }, { v: 'r', extent: R }], body: sum([['d', D]], bin('*', x('d'), load(2, [['d', R], ['r', 1]]))) },
      {
        name: 'y',
        kind: 'contraction',
        out: 'y',
        loops: [{ v: 'b', extent: N }, { v: 'o', extent: O }],
        body: bin('+', sum([['d', D]], bin('*', x('d'), load(1, [['d', O], ['o', 1]]))), bin('*', arg('s'), sum([['r', R]], bin('*', load(4, [['b', R], ['r', 1]]), load(3, [['r', O], ['o', 1]]))))),
      },
      { name: 'softmax', kind: 'reduction', out: 'p', loops: [{ v: 'b', extent: N }, { v: 'o', extent: O }], body: soft('o') },
      {
        name: 'loss',
        kind: 'reduction',
        out: 'loss',
        loops: [],
        body: bin('/', un('neg', sum([['b', N], ['o', O]], bin('*', load(11, [['b', O], ['o', 1]]), un('log', load(6, [['b', O], ['o', 1]]))))), c(N)),
      },
      { name: 'gy', out: 'gy', loops: [{ v: 'b', extent: N }, { v: 'o', extent: O }], body: bin('/', bin('-', load(6, [['b', O], ['o', 1]]), load(11, [['b', O], ['o', 1]])), c(N)) },
      { name: 'gBm', kind: 'contraction', out: 'gBm', loops: [{ v: 'r', extent: R }, { v: 'o', extent: O }], body: bin('*', arg('s'), sum([['b', N]], bin('*', load(4, [['b', R], ['r', 1]]), load(8, [['b', O], ['o', 1]])))) },
      { name: 'update', out: 'Bm2', loops: [{ v: 'r', extent: R }, { v: 'o', extent: O }], body: bin('-', load(3, [['r', O], ['o', 1]]), bin('*', arg('lr'), load(9, [['r', O], ['o', 1]]))) },
    ],
    [
      ['y', 'y'],
      ['loss', 'loss'],
      ['grad:Bm', 'gBm'],
      ['param:Bm', 'Bm2'],
    ],
    ['s', 'lr'],
  );
  return { plan, ranges: { x: [-1, 1], W: [-0.5, 0.5], A: [-0.5, 0.5], Bm: [-0.5, 0.5], t: [0, 1] }, args: { s: 0.5, lr: 0.1 } };
}

/** Deterministic values in [lo, hi] (an LCG; tests pick the seed). */
export function fill(n: number, [lo, hi]: [number, number], seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  }
  return out;
}

/** Feeds for a case: every leaf drawn from its range (float32 values, so f32 backends see the same inputs). */
export function feedsFor(cs: Case, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let i = 0;
  for (const [name, id] of cs.plan.leaves) out.set(name, fill(cs.plan.buffers[id].size, cs.ranges[name] ?? [-1, 1], seed * 7919 + i++));
  return out;
}

export const asTensors = (plan: KernelPlan, feeds: Map<string, Float32Array>): Map<string, Tensor> =>
  new Map([...feeds].map(([k, v]) => [k, { shape: plan.buffers[plan.leaves.get(k)!].shape, data: Float64Array.from(v) }]));

/**
 * Float32 results against a float64 reference: |got − want| ≤ rtol·(|want| + mean|want|) + atol,
 * i.e. relative to each value and to the tensor's magnitude. Returns a message for the worst miss, or null.
 */
export function closeTo(got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-4, atol = 1e-6): string | null {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  let mean = 0;
  for (let i = 0; i < want.length; i++) mean += Math.abs(want[i]) / want.length;
  for (let i = 0; i < want.length; i++) {
    const tol = rtol * (Math.abs(want[i]) + mean) + atol;
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol)) return `[${i}] got ${got[i]}, want ${want[i]} (err ${err.toExponential(2)} > tol ${tol.toExponential(2)})`;
  }
  return null;
}
