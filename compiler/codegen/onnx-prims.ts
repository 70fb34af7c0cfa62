// The ONNX renderer: one record per IR primitive, emitting ONNX nodes (opset 17) for a node whose
// operands are already graph values. Numbers in attributes arrive as fitted monomials in N (Sym):
// sizes and constants that grow with the batch are computed in the graph.
import { FLOAT, OnnxUnsupported, type OnnxGraph } from './onnx-graph.ts';
import { Sym } from './torch-forward.ts';

export interface OnnxCtx {
  g: OnnxGraph;
  args: string[];
  attrs: Record<string, unknown>;
  /** Each operand's shape (fitted). */
  shapes: Sym[][];
  /** Operands that are scalar consts (folded into einsum factors). */
  scalar: boolean[];
}

export interface OnnxPrim {
  render(c: OnnxCtx): string;
}

const int = (v: unknown): number => {
  const s = v as Sym;
  if (Object.values(s.m.exps).some((e) => e)) throw new OnnxUnsupported('an axis or index that depends on the batch');
  return Math.round(s.m.k);
};
const ints = (v: unknown) => (v as Sym[]).map(int);
const syms = (v: unknown) => (v as Sym[]).map((s) => s.m);

/** Elementwise functions of runtime/tensor/unary.ts in ONNX operators. */
export const ONNX_UNARY: Record<string, (g: OnnxGraph, x: string) => string> = {
  neg: (g, x) => g.node('Neg', [x]),
  exp: (g, x) => g.node('Exp', [x]),
  log: (g, x) => g.node('Log', [x]),
  sqrt: (g, x) => g.node('Sqrt', [x]),
  rsqrt: (g, x) => g.node('Reciprocal', [g.node('Sqrt', [x])]),
  relu: (g, x) => g.node('Relu', [x]),
  // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))): opset 17 has no Gelu
  gelu: (g, x) => {
    const cube = g.node('Mul', [x, g.node('Mul', [x, x])]);
    const inner = g.node('Mul', [g.floats([Math.sqrt(2 / Math.PI)], []), g.node('Add', [x, g.node('Mul', [g.floats([0.044715], []), cube])])]);
    return g.node('Mul', [g.node('Mul', [g.floats([0.5], []), x]), g.node('Add', [g.floats([1], []), g.node('Tanh', [inner])])]);
  },
  gelu_erf: (g, x) => g.node('Mul', [g.node('Mul', [g.floats([0.5], []), x]), g.node('Add', [g.floats([1], []), g.node('Erf', [g.node('Mul', [x, g.floats([Math.SQRT1_2], [])])])])]),
  tanh: (g, x) => g.node('Tanh', [x]),
  sigmoid: (g, x) => g.node('Sigmoid', [x]),
  silu: (g, x) => g.node('Mul', [x, g.node('Sigmoid', [x])]),
  abs: (g, x) => g.node('Abs', [x]),
  square: (g, x) => g.node('Mul', [x, x]),
  sin: (g, x) => g.node('Sin', [x]),
  cos: (g, x) => g.node('Cos', [x]),
  softplus: (g, x) => g.node('Softplus', [x]),
  recip: (g, x) => g.node('Reciprocal', [x]),
  // Masks: heaviside(x) = [x > 0] (a > b is heaviside(a − b)), as runtime/tensor/unary.ts
  heaviside: (g, x) => g.node('Cast', [g.node('Greater', [x, g.floats([0], [])])], { to: FLOAT }),
  floor: (g, x) => g.node('Floor', [x]),
};

function einsum(c: OnnxCtx): string {
  const [lhs, out] = (c.attrs.spec as string).split('->');
  const subs = lhs.split(',');
  const ops = c.args.map((a, i) => ({ a, sub: subs[i] })).filter((_, i) => !c.scalar[i]);
  const factors = c.args.filter((_, i) => c.scalar[i]);
  let body: string | undefined;
  if (ops.length === 1 && ops[0].sub === out) body = ops[0].a;
  else if (ops.length) body = c.g.node('Einsum', ops.map((o) => o.a), { equation: `${ops.map((o) => o.sub).join(',')}->${out}` });
  const factor = factors.reduce<string | undefined>((acc, f) => (acc ? c.g.node('Mul', [acc, f]) : f), undefined);
  if (!body) return factor!;
  return factor ? c.g.node('Mul', [factor, body]) : body;
}

function broadcast(c: OnnxCtx): string {
  // Input axis i becomes output axis map[i]: order the axes as the output has them, insert size-1
  // axes, then Expand to the output shape.
  const map = ints(c.attrs.map);
  const shape = syms(c.attrs.shape);
  const order = map.map((m, i) => ({ m, i })).sort((a, b) => a.m - b.m);
  let x = c.args[0];
  if (order.some((o, k) => o.i !== k)) x = c.g.node('Transpose', [x], { perm: order.map((o) => o.i) });
  const missing = shape.map((_, j) => j).filter((j) => !map.includes(j));
  if (missing.length) x = c.g.node('Unsqueeze', [x, c.g.ints(missing)]);
  return c.g.node('Expand', [x, c.g.shape(shape)]);
}

export const ONNX_PRIMS: Record<string, OnnxPrim> = {
  const: { render: (c) => c.g.scalar((c.attrs.value as Sym).m) },
  fill: { render: (c) => c.g.node('Expand', [c.g.scalar((c.attrs.value as Sym).m), c.g.shape(syms(c.attrs.shape))]) },
  eye: {
    render(c) {
      const n = int(c.attrs.n);
      return c.g.floats(Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0)), [n, n]);
    },
  },
  einsum: { render: einsum },
  add: { render: (c) => c.g.node('Add', c.args) },
  map: {
    render(c) {
      const f = ONNX_UNARY[c.attrs.fn as string] ?? (() => {
        throw new OnnxUnsupported(`the function ${c.attrs.fn}`);
      })();
      return f(c.g, c.args[0]);
    },
  },
  pow: { render: (c) => c.g.node('Pow', c.args) },
  stopgrad: { render: (c) => c.g.node('Identity', c.args) },
  broadcast: { render: broadcast },
  reshape: { render: (c) => c.g.node('Reshape', [c.args[0], c.g.shape(syms(c.attrs.shape))]) },
  take: { render: (c) => c.g.node('Gather', [c.args[0], c.g.ints([int(c.attrs.index)], [])], { axis: int(c.attrs.axis) }) },
  untake: {
    render(c) {
      const axis = int(c.attrs.axis);
      const rank = c.shapes[0].length + 1;
      const pads = new Array(2 * rank).fill(0);
      pads[axis] = int(c.attrs.index);
      pads[rank + axis] = int(c.attrs.size) - 1 - int(c.attrs.index);
      return c.g.node('Pad', [c.g.node('Unsqueeze', [c.args[0], c.g.ints([axis])]), c.g.ints(pads)]);
    },
  },
  softmax: { render: (c) => c.g.node('Softmax', c.args, { axis: int(c.attrs.axis) }) },
  log_softmax: { render: (c) => c.g.node('LogSoftmax', c.args, { axis: int(c.attrs.axis) }) },
  reduce_max: { render: (c) => c.g.node('ReduceMax', c.args, { axes: ints(c.attrs.axes), keepdims: 0 }) },
  reduce_min: { render: (c) => c.g.node('ReduceMin', c.args, { axes: ints(c.attrs.axes), keepdims: 0 }) },
  iota: { render: (c) => c.g.floats(Array.from({ length: int(c.attrs.n) }, (_, i) => i), [int(c.attrs.n)]) },
  // 1 at the k largest along the axis: TopK breaks ties to the lower index, as topkMask does
  topk_mask: {
    render(c) {
      const axis = int(c.attrs.axis);
      const k = int(c.attrs.k);
      const top = c.g.nodeOutputs('TopK', [c.args[0], c.g.ints([k])], { axis, largest: 1, sorted: 1 }, 2)[1];
      const zeros = c.g.node('Expand', [c.g.floats([0], []), c.g.node('Shape', [c.args[0]])]);
      const ones = c.g.node('Expand', [c.g.floats([1], []), c.g.node('Shape', [top])]);
      return c.g.node('ScatterElements', [zeros, top, ones], { axis });
    },
  },
  slice: { render: (c) => c.g.node('Slice', [c.args[0], c.g.ints([int(c.attrs.lo)]), c.g.ints([int(c.attrs.hi)]), c.g.ints([int(c.attrs.axis)])]) },
  shift_matrix: {
    render(c) {
      const [rows, cols, offset] = [int(c.attrs.rows), int(c.attrs.cols), int(c.attrs.offset)];
      return c.g.floats(Array.from({ length: rows * cols }, (_, i) => (Math.floor(i / cols) === (i % cols) + offset ? 1 : 0)), [rows, cols]);
    },
  },
};
