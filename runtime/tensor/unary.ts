// Scalar unary functions with their derivatives, in one table so the
// interpreter, the IR evaluator and the autodiff oracles all agree on both.

import type { Tensor } from './tensor.ts';
import { map } from './elementwise.ts';

export interface UnaryFn {
  /** The function itself. */
  f: (x: number) => number;
  /** Its derivative d f / d x (at kinks, the one-sided value we pick is documented inline). */
  df: (x: number) => number;
  /** Piecewise constant (a step): its derivative is 0 wherever it exists, so no gradient flows. */
  constant?: boolean;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const GELU_C = 0.044715;

/**
 * erf(x) to about 1e-15 absolute. Two regimes, each free of cancellation:
 *  - |x| < 3: erf(x) = 2/sqrt(pi) e^{-x^2} sum_n (2x^2)^n x / (1*3*...*(2n+1)),
 *    whose terms are all positive (unlike the plain Taylor series).
 *  - |x| >= 3: erf(x) = 1 - erfc(x), erfc by its continued fraction
 *    e^{-x^2}/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
 *    which converges quickly for large x; erfc < 2.3e-5 there, so 1 - erfc is exact enough.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erf(-x);
  if (x >= 6) return 1; // erfc(6) ~ 2e-17, below half an ulp of 1
  const x2 = x * x;
  if (x < 3) {
    let term = x;
    let acc = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      acc += term;
      if (term < 1e-17 * acc) break;
    }
    return TWO_OVER_SQRT_PI * Math.exp(-x2) * acc;
  }
  let frac = x;
  for (let k = 60; k >= 1; k--) frac = x + k / 2 / frac;
  return 1 - Math.exp(-x2) / Math.sqrt(Math.PI) / frac;
}

/** Logistic sigmoid, written so exp never overflows. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** softplus(x) = log(1 + e^x), written as max(x, 0) + log1p(e^{-|x|}) to avoid overflow. */
export function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

export const unary = {
  neg: { f: (x) => -x, df: () => -1 },
  exp: { f: Math.exp, df: Math.exp },
  log: { f: Math.log, df: (x) => 1 / x },
  sqrt: { f: Math.sqrt, df: (x) => 0.5 / Math.sqrt(x) },
  rsqrt: { f: (x) => 1 / Math.sqrt(x), df: (x) => -0.5 / (x * Math.sqrt(x)) },
  // Kink at 0: we use the subgradient 0, as PyTorch does.
  relu: { f: (x) => (x > 0 ? x : 0), df: (x) => (x > 0 ? 1 : 0) },
  // PyTorch gelu(approximate='tanh'): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
  gelu: {
    f: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + GELU_C * x * x * x))),
    df: (x) => {
      const t = Math.tanh(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_C * x * x);
    },
  },
  // PyTorch gelu(approximate='none'): x Phi(x); derivative Phi(x) + x phi(x).
  gelu_erf: {
    f: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
    df: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x),
  },
  tanh: {
    f: Math.tanh,
    df: (x) => {
      const t = Math.tanh(x);
      return 1 - t * t;
    },
  },
  sigmoid: {
    f: sigmoid,
    df: (x) => {
      const s = sigmoid(x);
      return s * (1 - s);
    },
  },
  silu: {
    f: (x) => x * sigmoid(x),
    df: (x) => {
      const s = sigmoid(x);
      return s * (1 + x * (1 - s));
    },
  },
  // Kink at 0: subgradient 0 (sign(0) = 0), as PyTorch does.
  abs: { f: Math.abs, df: (x) => Math.sign(x) },
  square: { f: (x) => x * x, df: (x) => 2 * x },
  sin: { f: Math.sin, df: Math.cos },
  cos: { f: Math.cos, df: (x) => -Math.sin(x) },
  // d/dx log(1 + e^x) = sigmoid(x). PyTorch's threshold=20 linearization (return x) is
  // not applied: it is off by up to e^-20 ~ 2e-9, and exact is what an oracle wants.
  softplus: { f: softplus, df: sigmoid },
  recip: { f: (x) => 1 / x, df: (x) => -1 / (x * x) },
  // Heaviside step, 1 where x > 0 else 0 (NaN gives 0): comparisons and masks are built from it
  // (a > b is heaviside(a − b)). Piecewise constant: no gradient flows through a mask.
  heaviside: { f: (x) => (x > 0 ? 1 : 0), df: () => 0, constant: true },
  floor: { f: Math.floor, df: () => 0, constant: true },
} satisfies Record<string, UnaryFn>;

export type UnaryName = keyof typeof unary;

export const unaryNames = Object.keys(unary) as UnaryName[];

export function isUnaryName(name: string): name is UnaryName {
  return Object.prototype.hasOwnProperty.call(unary, name);
}

/** Apply a named unary function elementwise. */
export function applyUnary(name: UnaryName, t: Tensor): Tensor {
  return map(t, unary[name].f);
}

/** Elementwise derivative of a named unary function, evaluated at t. */
export function applyUnaryGrad(name: UnaryName, t: Tensor): Tensor {
  return map(t, unary[name].df);
}
