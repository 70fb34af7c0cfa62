// How the CPU loop emitter (cpu-loops-emitter.ts) writes one scalar operation as JavaScript: number
// literals, unary functions and their derivatives (inline, or a call of a helper the generated factory
// defines), and binary operators.
import type * as T from '../../runtime/tensor/index.ts';
import type { KExpr } from '../fuse/kernel-ir.ts';

export function num(v: number): string {
  if (Object.is(v, -0)) return '(-0)';
  if (Number.isNaN(v)) return 'NaN';
  return v < 0 ? `(${String(v)})` : String(v);
}

const INLINE_UNARY: Partial<Record<T.UnaryName, (a: string) => string>> = {
  neg: (a) => `-${a}`,
  exp: (a) => `Math.exp(${a})`,
  log: (a) => `Math.log(${a})`,
  sqrt: (a) => `Math.sqrt(${a})`,
  rsqrt: (a) => `1 / Math.sqrt(${a})`,
  relu: (a) => `relu_(${a})`,
  tanh: (a) => `tanh_(${a})`,
  gelu: (a) => `gelu_(${a})`,
  abs: (a) => `Math.abs(${a})`,
  square: (a) => `${a} * ${a}`,
  sin: (a) => `Math.sin(${a})`,
  cos: (a) => `Math.cos(${a})`,
  recip: (a) => `1 / ${a}`,
  heaviside: (a) => `+(${a} > 0)`,
  floor: (a) => `Math.floor(${a})`,
};
const INLINE_GRAD: Partial<Record<T.UnaryName, (a: string) => string>> = {
  neg: () => `-1`,
  exp: (a) => `Math.exp(${a})`,
  log: (a) => `1 / ${a}`,
  relu: (a) => `+(${a} > 0)`,
  square: (a) => `2 * ${a}`,
  recip: (a) => `-1 / (${a} * ${a})`,
  tanh: (a) => `dtanh_(${a})`,
  gelu: (a) => `dgelu_(${a})`,
};

/**
 * tanh and the tanh-form GELU (PyTorch's approximate='tanh'), the hot elementwise functions of a
 * transformer's MLP: V8's Math.tanh costs ~18 ns, and GELU forward + backward over a ViT-small step's
 * activations took ~40% of its elementwise time. tanh_ is Eigen's float tanh (an odd 13/6 rational)
 * on (-4, 4), absolute error < 3e-8 (half a float32 ulp at 1); beyond, 1 - 2/(e^2x + 1) through
 * Math.exp, so 1 - tanh² in the tails (GELU's, its derivative's) keeps its relative precision.
 * ~2.4× faster than Math.tanh in the GELU loop (2-core Zen 5). NaN stays NaN (every comparison
 * is false), ±Infinity gives ±1.
 * The float64 reference interpreter keeps Math.tanh; cpu.test.ts checks these against it.
 */
const FAST_TANH: Record<string, string> = {
  tanh_: `(x) => {
  if (x >= 4) return 1 - 2 / (Math.exp(2 * x) + 1);
  if (x <= -4) return 2 / (Math.exp(-2 * x) + 1) - 1;
  const x2 = x * x;
  let p = x2 * -2.76076847742355e-16 + 2.00018790482477e-13;
  p = x2 * p - 8.60467152213735e-11;
  p = x2 * p + 5.12229709037114e-8;
  p = x2 * p + 1.48572235717979e-5;
  p = x2 * p + 6.37261928875436e-4;
  p = x2 * p + 4.89352455891786e-3;
  let q = x2 * 1.19825839466702e-6 + 1.18534705686654e-4;
  q = x2 * q + 2.268434632439e-3;
  q = x2 * q + 4.89352518554385e-3;
  return (x * p) / q;
}`,
  dtanh_: '(x) => { const t = tanh_(x); return 1 - t * t; }',
  gelu_: '(x) => 0.5 * x * (1 + tanh_(0.7978845608028654 * (x + 0.044715 * x * x * x)))',
  dgelu_: `(x) => {
  const t = tanh_(0.7978845608028654 * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978845608028654 * (1 + 0.134145 * x * x);
}`,
};
/** helpers a helper calls (defined alongside it) */
const HELPER_DEPS: Record<string, string[]> = { dtanh_: ['tanh_'], gelu_: ['tanh_'], dgelu_: ['tanh_'] };

/**
 * Helpers defined in the generated factory. relu is branch-free: `x > 0 ? x : 0` mispredicts on
 * real activations (random signs) and measured 8.7 ms vs 3.6 ms on 1024×768 (bias + relu); the
 * select becomes (x > 0)·x (+0 turns −0 into 0), and the NaN that gives for x = −∞ or NaN is mapped
 * to 0 like the reference (a predictable branch).
 */
const LOCAL_HELPERS: Record<string, string> = {
  relu_: '(x) => { const v = (x > 0) * x + 0; return v === v ? v : 0; }',
  ...FAST_TANH,
};

const BIN_JS: Record<string, (a: string, b: string) => string> = {
  '+': (a, b) => `${a} + ${b}`,
  '-': (a, b) => `${a} - ${b}`,
  '*': (a, b) => `${a} * ${b}`,
  '/': (a, b) => `${a} / ${b}`,
  pow: (a, b) => `${a} ** ${b}`,
  max: (a, b) => `Math.max(${a}, ${b})`,
};

/**
 * JS for f(a) (`unary`) or f'(a) (`unaryGrad`): inline where a formula is known, else a call of a
 * helper, recorded in `helpers` (JS name -> spec) for the factory to define (helperDecl).
 */
export function unaryJs(kind: 'unary' | 'unaryGrad', fn: T.UnaryName, a: string, helpers: Map<string, string>): string {
  const inl = (kind === 'unary' ? INLINE_UNARY : INLINE_GRAD)[fn];
  if (inl) {
    const code = inl(a);
    const call = /([A-Za-z]\w*_)\(/.exec(code)?.[1];
    if (call && LOCAL_HELPERS[call]) for (const h of [call, ...(HELPER_DEPS[call] ?? [])]) helpers.set(h, `src:${h}`);
    return code;
  }
  const h = `${kind === 'unary' ? 'f' : 'df'}_${fn}`;
  helpers.set(h, `${kind === 'unary' ? 'f' : 'df'}:${fn}`);
  return `${h}(${a})`;
}

/** The factory's definition of a helper recorded by unaryJs: a local one, or U[fn].f / .df (runtime/tensor's table). */
export function helperDecl(h: string, spec: string): string {
  const [kind, fn] = spec.split(':') as ['f' | 'df' | 'src', string];
  if (kind === 'src') return `const ${h} = ${LOCAL_HELPERS[fn]};`;
  return `const ${h} = U[${JSON.stringify(fn)}].${kind};`;
}

/** JS for `a op b`. */
export function binJs(op: Extract<KExpr, { k: 'bin' }>['op'], a: string, b: string): string {
  return BIN_JS[op]!(a, b);
}
