// The PyTorch renderer: one record per IR primitive, turning a node into a Python expression over
// its operands' variables. Numbers in attributes arrive already as Python expressions (sizes may
// be symbolic: `N`, `In * r`), see torch-symbolic.ts. Only forward primitives are here: the backward
// is torch autograd's (see README "Scaling out" for why).
import type { Graph, Node } from '../ir/graph.ts';

/** A Python expression standing for a number of the program (a size, an index, a constant). */
export class Py {
  constructor(readonly code: string) {}
}

export type PyAttrs = Record<string, unknown>;

export interface TorchCtx {
  /** Variables of the operands. */
  args: string[];
  attrs: PyAttrs;
  /** Which operands are scalar Python floats (consts), not tensors. */
  scalar: boolean[];
  /** `dtype=…, device=…` for tensors made from nothing. */
  like: string;
}

export interface TorchPrim {
  /** Python for the node's value. */
  render(c: TorchCtx): string;
  /** The value is a Python float, not a tensor. */
  scalar?: boolean;
  /** false: render() does not read the node's own shape (so the export need not fit it). */
  shape?: false;
  /** The attributes render() reads, where they are not the node's own (fitted instead of them). */
  attrs?(n: Node, g: Graph): Record<string, unknown>;
}

const py = (v: unknown): string => {
  if (v instanceof Py) return v.code;
  if (Array.isArray(v)) return `(${v.map(py).join(', ')}${v.length === 1 ? ',' : ''})`;
  return JSON.stringify(v);
};

/** Unary functions: PyTorch spellings of compiler/../runtime/tensor/unary.ts, with the same conventions. */
export const TORCH_UNARY: Record<string, (a: string) => string> = {
  neg: (a) => `(-${a})`,
  exp: (a) => `torch.exp(${a})`,
  log: (a) => `torch.log(${a})`,
  sqrt: (a) => `torch.sqrt(${a})`,
  rsqrt: (a) => `torch.rsqrt(${a})`,
  relu: (a) => `torch.relu(${a})`,
  gelu: (a) => `F.gelu(${a}, approximate='tanh')`,
  gelu_erf: (a) => `F.gelu(${a})`,
  tanh: (a) => `torch.tanh(${a})`,
  sigmoid: (a) => `torch.sigmoid(${a})`,
  silu: (a) => `F.silu(${a})`,
  abs: (a) => `torch.abs(${a})`,
  square: (a) => `torch.square(${a})`,
  sin: (a) => `torch.sin(${a})`,
  cos: (a) => `torch.cos(${a})`,
  // Exact log(1 + e^x): F.softplus linearises above 20, which our reference does not.
  softplus: (a) => `torch.logaddexp(${a}, torch.zeros_like(${a}))`,
  recip: (a) => `torch.reciprocal(${a})`,
  // Masks (a > b is heaviside(a − b)) and floor: piecewise constant, no gradient, as in unary.ts.
  heaviside: (a) => `(${a} > 0).to(${a}.dtype)`,
  floor: (a) => `torch.floor(${a})`,
};

/** Their derivatives (the backward program's map_grad), as unary.ts defines them (kinks included). */
export const TORCH_UNARY_GRAD: Record<string, (a: string) => string> = {
  neg: (a) => `torch.full_like(${a}, -1.0)`,
  exp: (a) => `torch.exp(${a})`,
  log: (a) => `torch.reciprocal(${a})`,
  sqrt: (a) => `0.5 * torch.rsqrt(${a})`,
  rsqrt: (a) => `-0.5 * torch.rsqrt(${a}) / ${a}`,
  relu: (a) => `(${a} > 0).to(${a}.dtype)`,
  gelu: (a) =>
    `(lambda v, t: 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * ${Math.sqrt(2 / Math.PI)} * (1 + 3 * 0.044715 * v * v))(${a}, torch.tanh(${Math.sqrt(2 / Math.PI)} * (${a} + 0.044715 * ${a} ** 3)))`,
  gelu_erf: (a) => `(lambda v: 0.5 * (1 + torch.erf(v * ${Math.SQRT1_2})) + v * ${1 / Math.sqrt(2 * Math.PI)} * torch.exp(-0.5 * v * v))(${a})`,
  tanh: (a) => `(lambda t: 1 - t * t)(torch.tanh(${a}))`,
  sigmoid: (a) => `(lambda s: s * (1 - s))(torch.sigmoid(${a}))`,
  silu: (a) => `(lambda v, s: s * (1 + v * (1 - s)))(${a}, torch.sigmoid(${a}))`,
  abs: (a) => `torch.sign(${a})`,
  square: (a) => `2 * ${a}`,
  sin: (a) => `torch.cos(${a})`,
  cos: (a) => `-torch.sin(${a})`,
  softplus: (a) => `torch.sigmoid(${a})`,
  recip: (a) => `-torch.reciprocal(${a} * ${a})`,
  heaviside: (a) => `torch.zeros_like(${a})`,
  floor: (a) => `torch.zeros_like(${a})`,
};

function einsum(c: TorchCtx): string {
  const [lhs, out] = (c.attrs.spec as string).split('->');
  const subs = lhs.split(',');
  const factors = c.args.filter((_, i) => c.scalar[i]);
  const ops = c.args.map((a, i) => ({ a, sub: subs[i] })).filter((_, i) => !c.scalar[i]);
  let body: string;
  if (!ops.length) body = '';
  else if (ops.length === 1 && ops[0].sub === out) body = ops[0].a;
  else body = `torch.einsum('${ops.map((o) => o.sub).join(',')}->${out}', ${ops.map((o) => o.a).join(', ')})`;
  if (!body) return `torch.tensor(${factors.join(' * ')}, ${c.like})`;
  return factors.length ? `(${factors.join(' * ')}) * ${body}` : body;
}

function broadcast(c: TorchCtx): string {
  // Input axis i becomes output axis map[i]; order the input's axes as the output has them, give
  // every new axis size 1, then expand.
  const map = (c.attrs.map as Py[]).map((m) => Number(m.code));
  const shape = c.attrs.shape as unknown[];
  const order = map.map((m, i) => ({ m, i })).sort((a, b) => a.m - b.m);
  let x = c.args[0];
  if (c.scalar[0]) return `torch.full(${py(shape)}, ${x}, ${c.like})`;
  if (order.some((o, k) => o.i !== k)) x = `${x}.permute(${order.map((o) => o.i).join(', ')})`;
  const view = shape.map((_, j) => (map.includes(j) ? `${x}.shape[${order.findIndex((o) => o.m === j)}]` : '1'));
  return `${x}.reshape(${py(view.map((v) => new Py(v)))}).expand(${py(shape)})`;
}

export const TORCH_PRIMS: Record<string, TorchPrim> = {
  const: { shape: false, render: (c) => py(c.attrs.value), scalar: true },
  fill: { render: (c) => `torch.full(${py(c.attrs.shape)}, ${py(c.attrs.value)}, ${c.like})` },
  eye: { shape: false, render: (c) => `torch.eye(${py(c.attrs.n)}, ${c.like})` },
  einsum: { shape: false, render: einsum },
  add: { shape: false, render: (c) => `${c.args[0]} + ${c.args[1]}` },
  map: {
    shape: false,
    render(c) {
      const f = TORCH_UNARY[c.attrs.fn as string];
      if (!f) throw new Error(`internal: no PyTorch spelling for unary '${c.attrs.fn}'`);
      return f(c.args[0]);
    },
  },
  map_grad: {
    shape: false,
    render(c) {
      const f = TORCH_UNARY_GRAD[c.attrs.fn as string];
      if (!f) throw new Error(`internal: no PyTorch derivative for unary '${c.attrs.fn}'`);
      return f(c.args[0]);
    },
  },
  pow: { shape: false, render: (c) => `torch.pow(${c.args[0]}, ${c.args[1]})` },
  stopgrad: { shape: false, render: (c) => `${c.args[0]}.detach()` },
  broadcast: { render: broadcast },
  reshape: { render: (c) => `${c.args[0]}.reshape(${py(c.attrs.shape)})` },
  take: { shape: false, render: (c) => `${c.args[0]}.select(${py(c.attrs.axis)}, ${py(c.attrs.index)})` },
  untake: { shape: false, render: (c) => `_untake(${c.args[0]}, ${py(c.attrs.axis)}, ${py(c.attrs.index)}, ${py(c.attrs.size)})` },
  softmax: { shape: false, render: (c) => `torch.softmax(${c.args[0]}, ${py(c.attrs.axis)})` },
  log_softmax: { shape: false, render: (c) => `torch.log_softmax(${c.args[0]}, ${py(c.attrs.axis)})` },
  reduce_max: { shape: false, render: (c) => `torch.amax(${c.args[0]}, dim=${py(c.attrs.axes)})` },
  reduce_min: { shape: false, render: (c) => `torch.amin(${c.args[0]}, dim=${py(c.attrs.axes)})` },
  iota: { shape: false, render: (c) => `torch.arange(${py(c.attrs.n)}, ${c.like})` },
  // 1 at the k largest entries along the axis, ties to the lower index (a stable sort), as topkMask
  topk_mask: { shape: false, render: (c) => `_topk_mask(${c.args[0]}, ${py(c.attrs.axis)}, ${py(c.attrs.k)})` },
  slice: {
    // A slice to the end of the axis counts from the end (MiLoRA's minor components [K − r:], K =
    // min(In, Out)): its only number is then r, whatever K is.
    attrs(n, g) {
      const { axis, lo, hi } = n.attrs as { axis: number; lo: number; hi: number };
      return lo > 0 && hi === g.shape(n.inputs[0])[axis] ? { axis, last: hi - lo } : { axis, lo, hi };
    },
    render: (c) => (c.attrs.last !== undefined ? `${c.args[0]}.narrow(${py(c.attrs.axis)}, ${c.args[0]}.shape[${py(c.attrs.axis)}] - ${py(c.attrs.last)}, ${py(c.attrs.last)})` : `${c.args[0]}.narrow(${py(c.attrs.axis)}, ${py(c.attrs.lo)}, ${py(c.attrs.hi)} - ${py(c.attrs.lo)})`),
  },
  shift_matrix: { shape: false, render: (c) => `_shift_matrix(${py(c.attrs.rows)}, ${py(c.attrs.cols)}, ${py(c.attrs.offset)}, ${c.like})` },
  // SVD / QR parts with runtime/tensor/decompose.ts's sign conventions (computed at construction)
  decompose: { shape: false, render: (c) => `_decompose(${c.args[0]}, ${JSON.stringify(c.attrs.part)})` },
  // A model's layer, called as its module (M is the model's get_submodule)
  module_call: { shape: false, render: (c) => `M(${py(c.attrs.path)})(${c.args[0]})` },
};

/** Attribute keys whose numbers are real values; every other number is a size, axis or index. */
export const FLOAT_ATTRS = new Set(['value']);
