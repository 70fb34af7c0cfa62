// Parameter initializers, in one table keyed by the name the language uses.
//
// Layout convention: weight matrices are stored [fan_in, fan_out], i.e.
// [In, Out], so that y = x @ W. That is the TRANSPOSE of PyTorch's
// nn.Linear weight [out, in]. Hence fan_in = shape[0] for 2-D weights, and
// for 3-D expert-batched weights [E, In, Out] fan_in = shape[1]; generally
// fan_in = shape[-2] and fan_out = shape[-1], with leading axes as batch.
// (Unlike PyTorch, leading axes are not a conv receptive field.)

import { type Tensor, numel, tensor } from '../tensor/tensor.ts';
import { type Draw, drawInto, drawnTensor } from './drawn.ts';
import { type Rng, rng as makeRng } from './rng.ts';

export interface ParamSpec {
  name: string;
  /** Value used when the argument is omitted; undefined means the argument is required. */
  default?: number;
}

export interface Initializer {
  params: ParamSpec[];
  /** `args` must already be resolved (see resolveArgs / initialize). */
  init(shape: number[], args: Record<string, number>, rng: Rng): Tensor;
  /**
   * Initialisers that write each value in order (the bulk draws, constants): the shape and arguments
   * checked now, the values described by the returned Draw (drawn.ts) — what initializeLazily draws
   * when the values are needed, into a float64 or a float32 array.
   */
  fill?(shape: number[], args: Record<string, number>): Draw;
  doc: string;
}

/** An initialiser's init made from its fill: a float64 tensor filled now. */
const fillNow = (fill: NonNullable<Initializer['fill']>): Initializer['init'] => (shape, args, r) => {
  const t = tensor(shape);
  drawInto(fill(shape, args), t.data, r);
  return t;
};

const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** fan_in / fan_out for our [..., In, Out] layout; PyTorch also rejects rank < 2. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`fan_in/fan_out need rank >= 2, got shape ${fmt(shape)}`);
  return { fanIn: shape[shape.length - 2], fanOut: shape[shape.length - 1] };
}

const uniformFill = (low: number, high: number): Draw => ({ kind: 'uniform', low, high });

function fill(shape: number[], f: () => number): Tensor {
  const t = tensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = f();
  return t;
}

/**
 * Orthonormal columns of a tall [rows, cols] matrix (rows >= cols, row-major)
 * by modified Gram–Schmidt. MGS yields R with a positive diagonal, which is
 * exactly the sign-corrected Q (q * sign(diag(r))) PyTorch computes from its
 * Householder QR, so no separate sign fix is needed.
 */
function gramSchmidt(a: Float64Array, rows: number, cols: number): Float64Array {
  const q = Float64Array.from(a);
  for (let j = 0; j < cols; j++) {
    for (let i = 0; i < j; i++) {
      let r = 0;
      for (let k = 0; k < rows; k++) r += q[k * cols + i] * q[k * cols + j];
      for (let k = 0; k < rows; k++) q[k * cols + j] -= r * q[k * cols + i];
    }
    let nrm = 0;
    for (let k = 0; k < rows; k++) nrm += q[k * cols + j] ** 2;
    nrm = Math.sqrt(nrm);
    if (!(nrm > 1e-300)) throw new Error('orthogonal: rank-deficient random matrix (should not happen)');
    for (let k = 0; k < rows; k++) q[k * cols + j] /= nrm;
  }
  return q;
}

/**
 * n frequencies u_k, integers drawn uniformly (with replacement) from [0, M),
 * from rng(seed).fork('fourier'). Depends only on (seed, n, M), so the cos and
 * sin bases of one adapter, built separately, share the same frequencies.
 */
export function fourierFrequencies(seed: number, n: number, M: number): number[] {
  const r = makeRng(seed).fork('fourier');
  return Array.from({ length: n }, () => r.int(M));
}

function fourierBasis(shape: number[], args: Record<string, number>, trig: (x: number) => number): Tensor {
  if (shape.length !== 2) throw new Error(`fourier basis needs a 2-D [n, M] shape, got ${fmt(shape)}`);
  const [n, M] = shape;
  if (args.n !== n) throw new Error(`fourier basis: n=${args.n} but shape is ${fmt(shape)}`);
  const u = fourierFrequencies(args.seed, n, M);
  const t = tensor(shape);
  for (let k = 0; k < n; k++)
    for (let i = 0; i < M; i++) t.data[k * M + i] = trig((2 * Math.PI * u[k] * i) / M);
  return t;
}

const zerosFill: NonNullable<Initializer['fill']> = () => ({ kind: 'constant', value: 0 });
const onesFill: NonNullable<Initializer['fill']> = () => ({ kind: 'constant', value: 1 });
const constantFill: NonNullable<Initializer['fill']> = (_shape, { value }) => ({ kind: 'constant', value });
const normalFill: NonNullable<Initializer['fill']> = (_shape, { mean, std }) => ({ kind: 'normal', mean, std });
const uniformArgsFill: NonNullable<Initializer['fill']> = (_shape, { low, high }) => uniformFill(low, high);
// PyTorch kaiming_uniform_(mode='fan_in', nonlinearity='leaky_relu'); the default a = sqrt(5) is
// nn.Linear's, giving bound = 1/sqrt(fan_in).
const kaimingFill: NonNullable<Initializer['fill']> = (shape, { a }) => {
  const bound = kaimingBound(shape, a);
  return uniformFill(-bound, bound);
};
const xavierFill: NonNullable<Initializer['fill']> = (shape, { gain }) => {
  const { fanIn, fanOut } = fans(shape);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniformFill(-bound, bound);
};

export const initializers = {
  zeros: {
    params: [],
    init: (shape) => tensor(shape),
    fill: zerosFill,
    doc: 'All zeros.',
  },
  ones: {
    params: [],
    init: fillNow(onesFill),
    fill: onesFill,
    doc: 'All ones.',
  },
  constant: {
    params: [{ name: 'value' }],
    init: fillNow(constantFill),
    fill: constantFill,
    doc: 'Every entry equals `value` (required).',
  },
  normal: {
    params: [{ name: 'mean', default: 0 }, { name: 'std', default: 1 }],
    init: fillNow(normalFill),
    fill: normalFill,
    doc: 'I.i.d. Normal(mean, std^2), drawn in row-major order.',
  },
  sparse_normal: {
    params: [{ name: 'density' }, { name: 'std', default: 1 }],
    init: (shape, { density, std }, r) => {
      if (!(density > 0 && density <= 1)) throw new Error(`sparse_normal: density must be in (0, 1], got ${density}`);
      // Two draws per entry, always (keeps the stream independent of which entries are kept).
      return fill(shape, () => {
        const keep = r.next() < density;
        const v = r.normal(0, std);
        return keep ? v : 0;
      });
    },
    doc: 'Each entry non-zero with probability `density` (required), then Normal(0, std^2) (a sparse random projection).',
  },
  uniform: {
    params: [{ name: 'low', default: -1 }, { name: 'high', default: 1 }],
    init: fillNow(uniformArgsFill),
    fill: uniformArgsFill,
    doc: 'I.i.d. Uniform[low, high), drawn in row-major order.',
  },
  kaiming_uniform: {
    params: [{ name: 'a', default: Math.sqrt(5) }],
    init: fillNow(kaimingFill),
    fill: kaimingFill,
    doc:
      'Uniform(-b, b) with b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) (PyTorch kaiming_uniform_, ' +
      'leaky_relu, fan_in mode). fan_in = shape[-2] since weights are stored [In, Out].',
  },
  xavier_uniform: {
    params: [{ name: 'gain', default: 1 }],
    init: fillNow(xavierFill),
    fill: xavierFill,
    doc: 'Uniform(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (PyTorch xavier_uniform_).',
  },
  orthogonal: {
    params: [{ name: 'gain', default: 1 }],
    init: (shape, { gain }, r) => {
      if (shape.length < 2) throw new Error(`orthogonal needs rank >= 2, got ${fmt(shape)}`);
      const [rows, cols] = shape.slice(-2);
      const t = tensor(shape);
      const per = rows * cols;
      const tall = rows >= cols;
      for (let b = 0; b < numel(shape.slice(0, -2)); b++) {
        // Draw a normal [rows, cols] matrix; orthonormalize its columns, or
        // (if wide) its rows by working on the transpose.
        const g = Float64Array.from({ length: per }, () => r.normal());
        const a = tall ? g : transpose2(g, rows, cols);
        const q = tall ? gramSchmidt(a, rows, cols) : transpose2(gramSchmidt(a, cols, rows), cols, rows);
        for (let k = 0; k < per; k++) t.data[b * per + k] = gain * q[k];
      }
      return t;
    },
    doc:
      'gain * Q from the QR of a Normal matrix (modified Gram–Schmidt, diag(R) > 0, as PyTorch orthogonal_). ' +
      'For [n, m]: Q^T Q = I if n >= m, else Q Q^T = I. Leading axes are a batch of independent matrices.',
  },
  eye: {
    params: [],
    init: (shape) => {
      if (shape.length < 2) throw new Error(`eye needs rank >= 2, got ${fmt(shape)}`);
      const [rows, cols] = shape.slice(-2);
      const t = tensor(shape);
      for (let b = 0; b < numel(shape.slice(0, -2)); b++)
        for (let i = 0; i < Math.min(rows, cols); i++) t.data[b * rows * cols + i * cols + i] = 1;
      return t;
    },
    doc: 'Ones on the main diagonal of each trailing [rows, cols] matrix (rectangular allowed), zeros elsewhere.',
  },
  fourier_cos: {
    params: [{ name: 'seed', default: 0 }, { name: 'n' }],
    init: (shape, args) => fourierBasis(shape, args, Math.cos),
    doc:
      'Frozen FourierFT basis, shape [n, M]: row k is cos(2 pi u_k i / M), i = 0..M-1, with n integer frequencies ' +
      'u_k drawn uniformly (with replacement) from [0, M) using the `seed` argument, NOT the rng, so that ' +
      'fourier_cos and fourier_sin with the same seed share frequencies. `n` must equal shape[0].',
  },
  fourier_sin: {
    params: [{ name: 'seed', default: 0 }, { name: 'n' }],
    init: (shape, args) => fourierBasis(shape, args, Math.sin),
    doc: 'As fourier_cos, with sin(2 pi u_k i / M).',
  },
} satisfies Record<string, Initializer>;

export type InitializerName = keyof typeof initializers;

function transpose2(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

/** kaiming_uniform's bound for a shape and negative slope a. */
export function kaimingBound(shape: readonly number[], a: number): number {
  const gain = Math.sqrt(2 / (1 + a * a));
  return gain * Math.sqrt(3 / fans(shape).fanIn);
}

/** Fill in defaults; reject unknown or missing arguments (a typo should not silently use a default). */
export function resolveArgs(name: string, args: Record<string, number> = {}): Record<string, number> {
  const spec = getInitializer(name);
  for (const k of Object.keys(args)) {
    if (!spec.params.some((p) => p.name === k)) throw new Error(`initializer ${name}: unknown argument '${k}'`);
  }
  const out: Record<string, number> = {};
  for (const p of spec.params) {
    const v = args[p.name] ?? p.default;
    if (v === undefined) throw new Error(`initializer ${name}: missing argument '${p.name}'`);
    out[p.name] = v;
  }
  return out;
}

export function getInitializer(name: string): Initializer {
  if (!Object.prototype.hasOwnProperty.call(initializers, name)) throw new Error(`unknown initializer '${name}'`);
  return (initializers as Record<string, Initializer>)[name];
}

/** Look up, resolve arguments, and run an initializer. */
export function initialize(name: string, shape: number[], args: Record<string, number>, r: Rng): Tensor {
  return getInitializer(name).init(shape, resolveArgs(name, args), r);
}

/**
 * initialize, with the values drawn when first needed (drawn.ts: straight into a backend's float32
 * buffer) where the initialiser has a fill; the shape and arguments are checked now either way.
 * `stream()` must give the same fresh stream at every call (a fork: rng.fork(path)).
 */
export function initializeLazily(name: string, shape: number[], args: Record<string, number>, stream: () => Rng): Tensor {
  const spec = getInitializer(name);
  const resolved = resolveArgs(name, args);
  if (!spec.fill) return spec.init(shape, resolved, stream());
  const draw = spec.fill(shape, resolved);
  return drawnTensor(shape, draw.kind === 'constant' ? { draw } : { draw, stream });
}
