// Elementwise functions and their derivatives as WebAssembly f32x4 instruction sequences: one record
// per function (f, df), used by the wasm loops renderer (wasm-loops.ts) for vector lanes and, through
// splat / extract_lane, for scalar tails. A function missing here keeps its kernel in JavaScript.
//
// Accuracy (float32 arithmetic; wasm-unary.test.ts checks each against the float64 reference over
// wide ranges, tails, ±0, ±Infinity and NaN):
//  - exp: Cephes expf (range reduction by ln 2 in two parts, degree-5 polynomial), the 2^n scale
//    applied in two halves so that overflow gives +Infinity and underflow 0 / subnormals: ≤ 2 ulp.
//  - log: Cephes logf (frexp, degree-8 polynomial), subnormal inputs scaled first: ≤ 2 ulp;
//    log(0) = −Infinity, log(x < 0) = NaN, log(+Infinity) = +Infinity.
//  - tanh: the rational approximation of cpu-loops-ops.ts (Eigen's float tanh) for |x| < 4, beyond
//    it 1 − 2/(e^{2|x|} + 1) with the sign of x: ≤ 4 ulp; dtanh = 4e/(1 + e)², e = e^{−2|x|}, which
//    keeps its relative precision in the tails where 1 − tanh² would cancel.
//  - gelu (PyTorch's approximate='tanh' form): written through the logistic function, 0.5(1 + tanh u)
//    = s = 1/(1 + e^{−2u}), so gelu(x) = x·s and gelu'(x) = s + 2·√(2/π)·x(1 + 0.134145x²)·s(1 − s),
//    s and s(1 − s) = e/(1 + e)² from e = e^{−2|u|} ≤ 1 (no overflow): relative error ≤ 1e-6 + 2.5e-7·|2u| over the whole
//    range (u itself is rounded to float32 before the exponential), the tails included, where the tanh
//    form loses every digit to cancellation (in float64 too); gelu' also absolute ≤ 1e-7.
//  - sqrt, rsqrt, recip, square, neg, abs, relu, heaviside, floor and the derivatives built from them:
//    IEEE division and square root, ≤ 1 ulp per operation.
// NaN propagates like the JavaScript kernels; relu(NaN) = 0 and relu(−0) = +0 (f32x4.pmax(0, x), the
// JS kernels' branch-free relu); at ±Infinity the values are the reference's (gelu'(±∞) = NaN as 0·∞).
import type { UnaryName } from '../tensor/index.ts';
import type { Code, Local } from './wasm-emit.ts';

/** Emits f(x) for the v128 in local x, leaving a v128 on the stack; tmp() gives a fresh v128 local. */
export type VecFn = (c: Code, x: Local, tmp: () => Local) => void;

export interface WasmUnary {
  f: VecFn;
  df: VecFn;
}

const SIGN = 0x80000000 | 0;
const MAGIC = 12582912; // 1.5·2^23
const MAGIC_BITS = 0x4b400000;
const K = 0.7978845608028654; // √(2/π)

/** Horner: ((p0·x + p1)·x + p2)… for local x */
function horner(c: Code, x: Local, p: readonly number[]): void {
  c.f32x4Const(p[0]!);
  for (let i = 1; i < p.length; i++) c.get(x).f32x4Mul().f32x4Const(p[i]!).f32x4Add();
}

/** e^x for local x, pushed (see the header for the method and bounds) */
function expOf(c: Code, x: Local, tmp: () => Local): void {
  const xc = tmp(), t = tmp(), fx = tmp(), n = tmp(), r = tmp(), n1 = tmp();
  // clamp with pmax / pmin (one instruction each on x86; NaN passes through both, as x is operand a)
  c.get(x).f32x4Const(-104).f32x4Pmax().f32x4Const(89).f32x4Pmin().set(xc);
  // n = round(x·log2 e) by the 1.5·2^23 trick: the integer lands in the low mantissa bits (no
  // f32x4.nearest + i32x4.trunc_sat, which V8 lowers to long sequences on x86); a NaN gives some n,
  // and the polynomial carries the NaN
  c.get(xc).f32x4Const(1.4426950408889634).f32x4Mul().f32x4Const(MAGIC).f32x4Add().set(t);
  c.get(t).f32x4Const(MAGIC).f32x4Sub().set(fx);
  c.get(t).i32x4Const(MAGIC_BITS).i32x4Sub().set(n);
  c.get(xc).get(fx).f32x4Const(0.693359375).f32x4Mul().f32x4Sub().get(fx).f32x4Const(-2.12194440e-4).f32x4Mul().f32x4Sub().set(r);
  // 2^n as 2^n1 · 2^n2 (n in [−150, 129]: each half a normal float, so the product rounds once)
  c.get(n).i32(1).i32x4ShrS().set(n1);
  horner(c, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]);
  c.get(r).f32x4Mul().get(r).f32x4Mul().get(r).f32x4Add().f32x4Const(1).f32x4Add();
  c.get(n1).i32x4Const(127).i32x4Add().i32(23).i32x4Shl().f32x4Mul();
  c.get(n).get(n1).i32x4Sub().i32x4Const(127).i32x4Add().i32(23).i32x4Shl().f32x4Mul();
}

/** pushes e^{k·u} for local u and a constant k */
function expScaled(c: Code, u: Local, k: number, tmp: () => Local): void {
  const a = tmp();
  c.get(u).f32x4Const(k).f32x4Mul().set(a);
  expOf(c, a, tmp);
}

function logOf(c: Code, x: Local, tmp: () => Local): void {
  const sub = tmp(), bits = tmp(), e = tmp(), m = tmp(), small = tmp(), ef = tmp(), z = tmp(), y = tmp(), r = tmp();
  c.get(x).f32x4Const(1.1754943508222875e-38).f32x4Lt().set(sub); // subnormal (or ≤ 0: replaced below)
  c.get(x).f32x4Const(8388608).f32x4Mul().get(x).get(sub).v128Bitselect().set(bits);
  c.get(bits).i32(23).i32x4ShrU().i32x4Const(126).i32x4Sub().get(sub).i32x4Const(23).v128And().i32x4Sub().set(e);
  c.get(bits).i32x4Const(0x007fffff).v128And().i32x4Const(0x3f000000).v128Or().set(m); // m in [0.5, 1)
  c.get(m).f32x4Const(0.707106781186547524).f32x4Lt().set(small);
  c.get(e).get(small).i32x4Add().set(e); // the mask is −1 where true
  c.get(m).get(m).get(small).v128And().f32x4Add().f32x4Const(1).f32x4Sub().set(m);
  c.get(e).f32x4ConvertI32x4S().set(ef);
  c.get(m).get(m).f32x4Mul().set(z);
  horner(c, m, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]);
  c.get(m).f32x4Mul().get(z).f32x4Mul();
  c.get(ef).f32x4Const(-2.12194440e-4).f32x4Mul().f32x4Add();
  c.get(z).f32x4Const(0.5).f32x4Mul().f32x4Sub().set(y);
  c.get(m).get(y).f32x4Add().get(ef).f32x4Const(0.693359375).f32x4Mul().f32x4Add().set(r);
  // NaN and +Infinity pass through; 0 → −Infinity; x < 0 → NaN
  c.get(x).get(r).get(x).get(x).f32x4Ne().get(x).f32x4Const(Infinity).f32x4Eq().v128Or().v128Bitselect().set(r);
  c.f32x4Const(-Infinity).get(r).get(x).f32x4Const(0).f32x4Eq().v128Bitselect().set(r);
  c.f32x4Const(NaN).get(r).get(x).f32x4Const(0).f32x4Lt().v128Bitselect();
}

/** Eigen's float tanh rational (as cpu-loops-ops.ts), valid on |x| < 4 */
function tanhRational(c: Code, x: Local, tmp: () => Local): void {
  const x2 = tmp(), p = tmp();
  c.get(x).get(x).f32x4Mul().set(x2);
  horner(c, x2, [-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-8, 1.48572235717979e-5, 6.37261928875436e-4, 4.89352455891786e-3]);
  c.get(x).f32x4Mul().set(p);
  c.get(p);
  horner(c, x2, [1.19825839466702e-6, 1.18534705686654e-4, 2.268434632439e-3, 4.89352518554385e-3]);
  c.f32x4Div();
}

/** pushes e/(1 + e)² for local e (= s(1 − s) of the logistic s = 1/(1 + e)) */
function logisticSlope(c: Code, e: Local): void {
  c.get(e).get(e).f32x4Const(1).f32x4Add().f32x4Div().get(e).f32x4Const(1).f32x4Add().f32x4Div();
}

/**
 * pushes s = 1/(1 + e^{−2u}) for local u, as 1/(1 + e) where u ≥ 0 and e/(1 + e) where u < 0 with
 * e = e^{−2|u|} ≤ 1 (no overflow: the small values of s in the left tail keep their digits, down to
 * subnormals); returns the local holding e
 */
function logistic(c: Code, u: Local, tmp: () => Local): Local {
  const au = tmp(), e = tmp(), inv = tmp();
  c.get(u).f32x4Abs().set(au);
  expScaled(c, au, -2, tmp);
  c.set(e);
  one(c).get(e).f32x4Const(1).f32x4Add().f32x4Div().set(inv);
  c.get(e).get(inv).f32x4Mul().get(inv).get(u).f32x4Const(0).f32x4Lt().v128Bitselect();
  return e;
}

/** u = √(2/π)(x + 0.044715x³) into a new local */
function geluArg(c: Code, x: Local, tmp: () => Local): Local {
  const u = tmp();
  c.get(x).get(x).f32x4Mul().f32x4Const(0.044715).f32x4Mul().f32x4Const(1).f32x4Add().get(x).f32x4Mul().f32x4Const(K).f32x4Mul().set(u);
  return u;
}

const one = (c: Code) => c.f32x4Const(1);
const positiveMask = (c: Code, x: Local) => c.get(x).f32x4Const(0).f32x4Gt().f32x4Const(1).v128And();
const constant = (v: number): VecFn => (c) => void c.f32x4Const(v);

export const WASM_UNARY: Partial<Record<UnaryName, WasmUnary>> = {
  neg: { f: (c, x) => void c.get(x).f32x4Neg(), df: constant(-1) },
  exp: { f: expOf, df: expOf },
  log: { f: logOf, df: (c, x) => void one(c).get(x).f32x4Div() },
  sqrt: {
    f: (c, x) => void c.get(x).f32x4Sqrt(),
    df: (c, x) => void c.f32x4Const(0.5).get(x).f32x4Sqrt().f32x4Div(),
  },
  rsqrt: {
    f: (c, x) => void one(c).get(x).f32x4Sqrt().f32x4Div(),
    // (−0.5/√x)/x: x·√x would overflow (or go subnormal) long before the result does
    df: (c, x) => void c.f32x4Const(-0.5).get(x).f32x4Sqrt().f32x4Div().get(x).f32x4Div(),
  },
  // pmax(0, x) = 0 < x ? x : 0: NaN → 0, −0 → +0 (the JS kernels' relu_)
  relu: { f: (c, x) => void c.f32x4Const(0).get(x).f32x4Pmax(), df: (c, x) => void positiveMask(c, x) },
  heaviside: { f: (c, x) => void positiveMask(c, x), df: constant(0) },
  floor: { f: (c, x) => void c.get(x).f32x4Floor(), df: constant(0) },
  abs: {
    f: (c, x) => void c.get(x).f32x4Abs(),
    // Math.sign: ±1 with x's sign, x itself at ±0 and NaN
    df: (c, x) => {
      c.get(x).i32x4Const(SIGN).v128And().f32x4Const(1).v128Or();
      c.get(x).get(x).get(x).f32x4Eq().get(x).f32x4Const(0).f32x4Ne().v128And().v128Bitselect();
    },
  },
  square: { f: (c, x) => void c.get(x).get(x).f32x4Mul(), df: (c, x) => void c.get(x).get(x).f32x4Add() },
  recip: {
    f: (c, x) => void one(c).get(x).f32x4Div(),
    // −(1/x)²: x·x would overflow (or go subnormal) long before the result does
    df: (c, x, tmp) => {
      const r = tmp();
      one(c).get(x).f32x4Div().set(r);
      c.get(r).f32x4Neg().get(r).f32x4Mul();
    },
  },
  tanh: {
    f: (c, x, tmp) => {
      const ax = tmp(), small = tmp(), e = tmp();
      c.get(x).f32x4Abs().set(ax);
      c.get(x).f32x4Const(-4).f32x4Pmax().f32x4Const(4).f32x4Pmin().set(small);
      tanhRational(c, small, tmp);
      c.set(small);
      expScaled(c, ax, -2, tmp);
      c.set(e); // 1 − 2/(e^{2|x|} + 1) = (1 − e)/(1 + e) with e = e^{−2|x|}
      c.get(small);
      one(c).get(e).f32x4Sub().get(e).f32x4Const(1).f32x4Add().f32x4Div();
      c.i32x4Const(~SIGN).v128And().get(x).i32x4Const(SIGN).v128And().v128Or(); // copysign(…, x)
      c.get(ax).f32x4Const(4).f32x4Lt().v128Bitselect();
    },
    df: (c, x, tmp) => {
      const ax = tmp(), e = tmp();
      c.get(x).f32x4Abs().set(ax);
      expScaled(c, ax, -2, tmp);
      c.set(e);
      c.f32x4Const(4);
      logisticSlope(c, e);
      c.f32x4Mul();
    },
  },
  gelu: {
    f: (c, x, tmp) => {
      const u = geluArg(c, x, tmp);
      c.get(x);
      logistic(c, u, tmp);
      c.f32x4Mul();
    },
    df: (c, x, tmp) => {
      const u = geluArg(c, x, tmp);
      const e = logistic(c, u, tmp);
      const xc = tmp();
      // + 2K·x(1 + 0.134145x²)·e/(1 + e)², x clamped where e/(1 + e)² is 0 anyway (x² must not overflow)
      c.get(x).f32x4Const(-1e4).f32x4Pmax().f32x4Const(1e4).f32x4Pmin().set(xc);
      c.get(xc).get(xc).f32x4Mul().f32x4Const(0.134145).f32x4Mul().f32x4Const(1).f32x4Add().get(xc).f32x4Mul().f32x4Const(2 * K).f32x4Mul();
      logisticSlope(c, e);
      c.f32x4Mul().f32x4Add();
      c.get(x).get(x).f32x4Sub().f32x4Add(); // + (x − x): NaN at ±Infinity, as the reference's 0·∞
    },
  },
};

/** the f32x4 rendering of f (`unary`) or f' (`unaryGrad`), or null when there is none */
export function wasmUnary(kind: 'unary' | 'unaryGrad', fn: UnaryName): VecFn | null {
  const r = WASM_UNARY[fn];
  return r ? (kind === 'unary' ? r.f : r.df) : null;
}

