// The gpu.js renderer's vocabulary (see gpujs.ts): how each unary function and its derivative, and
// each numeric constant, is written as gpu.js-safe JavaScript.
import type { UnaryName } from '../../runtime/tensor/index.ts';

/** gpu.js maps `Infinity` to this on webgpu and rejects NaN, so ±Infinity are written as ±F32_MAX. */
export const F32_MAX = '3.4028234663852886e38';

// ---------------------------------------------------------------------------------------------
// Unary functions: gpu.js-safe expressions of f and f' over an operand `x` (an identifier or a
// literal, so formulas may use it several times). `bind(expr)` names a subexpression used more
// than once (a local next to x's, shared with identical ones in scope), so e.g. softplus computes
// e^-|x| once: webasm calls Math.exp through a JS import that no compiler merges. Keyed by
// UnaryName, so a function added to runtime/tensor/unary.ts without an entry here fails to compile.

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;
const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

type Bind = (expr: string) => string;
const clamp = (x: string, lo: number, hi: number) => `Math.min(Math.max(${x}, ${lit(lo)}), ${lit(hi)})`;
/**
 * tanh with its argument clamped to ±20, where tanh is ±1 even in f64 (the cpu mode computes in
 * f64: a clamp at ±10 leaves 1 − tanh² = 8e-9, which gelu's derivative multiplies by x³), while
 * e^40 stays far from f32 overflow for a WGSL tanh computed through exp.
 */
const tanh = (x: string) => `Math.tanh(${clamp(x, -20, 20)})`;
/** exp(-x) clamped so 1 + exp stays finite in f32 (sigmoid(-80) ~ 1.8e-35 is still a normal f32). */
const sigmoid = (x: string) => `(1 / (1 + Math.exp(-${clamp(x, -80, 80)})))`;
/** erf by Abramowitz–Stegun 7.1.26 over |z|, with the sign restored. */
const erf = (z: string, bind: Bind) => {
  const a = bind(`Math.abs(${z})`);
  const t = bind(`(1 / (1 + 0.3275911 * ${a}))`);
  const poly = `(${t} * (0.254829592 + ${t} * (-0.284496736 + ${t} * (1.421413741 + ${t} * (-1.453152027 + ${t} * 1.061405429)))))`;
  return `(Math.sign(${z}) * (1 - ${poly} * Math.exp(-${a} * ${a})))`;
};
const geluTanh = (x: string, bind: Bind) => bind(tanh(`(${lit(SQRT_2_OVER_PI)} * (${x} + ${lit(GELU_C)} * ${x} * ${x} * ${x}))`));

export interface GpuJsUnary {
  f: (x: string, bind: Bind) => string;
  df: (x: string, bind: Bind) => string;
}

export const GPUJS_UNARY: Record<UnaryName, GpuJsUnary> = {
  neg: { f: (x) => `(-${x})`, df: () => '(-1)' },
  exp: { f: (x) => `Math.exp(${x})`, df: (x) => `Math.exp(${x})` },
  log: { f: (x) => `Math.log(${x})`, df: (x) => `(1 / ${x})` },
  sqrt: { f: (x) => `Math.sqrt(${x})`, df: (x) => `(0.5 / Math.sqrt(${x}))` },
  rsqrt: { f: (x) => `(1 / Math.sqrt(${x}))`, df: (x) => `(-0.5 / (${x} * Math.sqrt(${x})))` },
  relu: { f: (x) => `(${x} > 0 ? ${x} : 0)`, df: (x) => `(${x} > 0 ? 1 : 0)` },
  gelu: {
    f: (x, bind) => `(0.5 * ${x} * (1 + ${geluTanh(x, bind)}))`,
    df: (x, bind) => {
      const t = geluTanh(x, bind);
      return `(0.5 * (1 + ${t}) + 0.5 * ${x} * (1 - ${t} * ${t}) * ${lit(SQRT_2_OVER_PI)} * (1 + ${lit(3 * GELU_C)} * ${x} * ${x}))`;
    },
  },
  gelu_erf: {
    f: (x, bind) => `(0.5 * ${x} * (1 + ${erf(bind(`${x} * ${lit(INV_SQRT2)}`), bind)}))`,
    df: (x, bind) => `(0.5 * (1 + ${erf(bind(`${x} * ${lit(INV_SQRT2)}`), bind)}) + ${x} * ${lit(INV_SQRT_2PI)} * Math.exp(-0.5 * ${x} * ${x}))`,
  },
  tanh: {
    f: (x) => tanh(x),
    df: (x, bind) => {
      const t = bind(tanh(x));
      return `(1 - ${t} * ${t})`;
    },
  },
  sigmoid: {
    f: (x) => sigmoid(x),
    df: (x, bind) => {
      const s = bind(sigmoid(x));
      return `(${s} * (1 - ${s}))`;
    },
  },
  silu: {
    f: (x) => `(${x} * ${sigmoid(x)})`,
    df: (x, bind) => {
      const s = bind(sigmoid(x));
      return `(${s} * (1 + ${x} * (1 - ${s})))`;
    },
  },
  abs: { f: (x) => `Math.abs(${x})`, df: (x) => `Math.sign(${x})` },
  square: { f: (x) => `(${x} * ${x})`, df: (x) => `(2 * ${x})` },
  sin: { f: (x) => `Math.sin(${x})`, df: (x) => `Math.cos(${x})` },
  cos: { f: (x) => `Math.cos(${x})`, df: (x) => `(-Math.sin(${x}))` },
  // max(x, 0) + log1p(e^-|x|), log1p(y) as log(u)·y/(u − 1) with u = 1 + y: plain log(1 + y) loses
  // y entirely in f32 once y < 6e-8 (softplus(-20) would be 0 instead of 2e-9)
  softplus: {
    f: (x, bind) => {
      const y = bind(`Math.exp(-Math.abs(${x}))`);
      const u = bind(`(1 + ${y})`);
      return `(Math.max(${x}, 0) + (${u} == 1 ? ${y} : Math.log(${u}) * ${y} / (${u} - 1)))`;
    },
    df: (x) => sigmoid(x),
  },
  recip: { f: (x) => `(1 / ${x})`, df: (x) => `(-1 / (${x} * ${x}))` },
  heaviside: { f: (x) => `(${x} > 0 ? 1 : 0)`, df: () => '0' },
  floor: { f: (x) => `Math.floor(${x})`, df: () => '0' },
};

// ---------------------------------------------------------------------------------------------
// Literals

/** A JS literal gpu.js accepts, parenthesised when negative. */
export function lit(v: number): string {
  if (Number.isNaN(v)) throw new Error('gpu.js renderer: NaN constant (gpu.js rejects NaN literals)');
  if (v === Infinity) return F32_MAX;
  if (v === -Infinity) return `(-${F32_MAX})`;
  const s = Object.is(v, -0) ? '0' : String(v);
  return v < 0 ? `(${s})` : s;
}
