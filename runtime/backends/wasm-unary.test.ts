// Each f32x4 function of wasm-unary.ts against the float64 reference (runtime/tensor's unary table)
// over wide ranges: a dense grid on [−20, 20], ±10^e for e in [−40, 38] (tails, overflow, underflow,
// subnormals), ±0, ±Infinity, NaN. Bounds: |got − ref| ≤ rtol·|ref| + atol with ref rounded to float32;
// where the float32 rounding of the reference is ±Infinity or NaN, got must be the same.
// For tanh' and the GELU pair the reference's own tanh form cancels in float64 too (1 − tanh² = 0
// beyond |x| ≈ 19, 1 + tanh(u) = 0 below x ≈ −7): there the oracle is the same function written
// without cancellation (1/cosh², the logistic form), exact to float64 rounding.
import { describe, expect, it } from 'vitest';
import { unary, type UnaryName } from '../tensor/index.ts';
import { Code, I32, ModuleBuilder, V128 } from './wasm-emit.ts';
import { WASM_UNARY, type VecFn } from './wasm-unary.ts';

/** f(src[i]) → dst[i] for n (a multiple of 4) floats */
function vectorApply(fn: VecFn): (x: Float32Array) => Float32Array {
  const mb = new ModuleBuilder({ module: 'env', name: 'mem', minPages: 0 });
  const code = new Code([I32, I32, I32]);
  const [src, dst, n] = [code.param(0), code.param(1), code.param(2)];
  const i = code.local(I32), x = code.local(V128);
  code.i32(0).set(i).block().loop();
  code.get(i).get(n).i32GeS().brIf(1);
  code.get(src).get(i).i32Add().v128Load(0, 2).set(x);
  code.get(dst).get(i).i32Add();
  fn(code, x, () => code.local(V128));
  code.v128Store(0, 2);
  code.get(i).i32(16).i32Add().set(i).br(0).end().end();
  mb.add(code, [], 'apply');
  const mem = new WebAssembly.Memory({ initial: 16 });
  const apply = (new WebAssembly.Instance(new WebAssembly.Module(mb.bytes()), { env: { mem } }).exports as { apply: (s: number, d: number, n: number) => void }).apply;
  return (xs) => {
    const n = Math.ceil(xs.length / 4) * 4;
    const f = new Float32Array(mem.buffer);
    f.set(xs, 0);
    apply(0, 4 * n, 4 * n);
    return f.slice(n, n + xs.length);
  };
}

function inputs(): Float32Array {
  const xs: number[] = [0, -0, Infinity, -Infinity, NaN, 1, -1, 4, -4, 3.999, -3.999, 88.72, 88.73, -87.3, -103.9, -104.5, 1e-45, 1.1754943508222875e-38, 3.4e38];
  for (let v = -20; v <= 20; v += 0.003) xs.push(v);
  for (let e = -40; e <= 38; e += 0.125) xs.push(10 ** e, -(10 ** e));
  return Float32Array.from(xs);
}

const K = Math.sqrt(2 / Math.PI);
const geluU = (x: number) => K * (x + 0.044715 * x * x * x);
/** float64 oracles without cancellation, where the reference table's formula cancels */
const ACCURATE: Record<string, (x: number) => number> = {
  dtanh: (x) => 1 / Math.cosh(x) ** 2,
  gelu: (x) => (Number.isFinite(x) ? x / (1 + Math.exp(-2 * geluU(x))) : unary.gelu.f(x)),
  dgelu: (x) => {
    if (!Number.isFinite(x)) return unary.gelu.df(x);
    const u = geluU(x);
    const s = 1 / (1 + Math.exp(-2 * u));
    const slope = Math.abs(u) > 350 ? 0 : 1 / (4 * Math.cosh(u) ** 2); // s(1 − s)
    return s + 2 * K * x * (1 + 3 * 0.044715 * x * x) * slope;
  },
};

/** rtol, atol per function (f, df): the header of wasm-unary.ts states them */
const BOUNDS: Record<string, [number, number]> = {
  exp: [3e-7, 1e-44], dexp: [3e-7, 1e-44],
  log: [3e-7, 1e-38], dlog: [1.2e-7, 0],
  tanh: [5e-7, 1e-38], dtanh: [6e-7, 1e-38],
  gelu: [1e-6, 1e-38], dgelu: [1e-6, 1e-7],
  sqrt: [1.2e-7, 0], dsqrt: [2.4e-7, 0], rsqrt: [2.4e-7, 0], drsqrt: [4e-7, 1e-44],
  recip: [1.2e-7, 0], drecip: [2.4e-7, 1e-44],
};

describe('wasm f32x4 unary functions', () => {
  const xs = inputs();
  for (const [name, fns] of Object.entries(WASM_UNARY)) {
    for (const kind of ['f', 'df'] as const) {
      const label = kind === 'f' ? name : `d${name}`;
      it(`${label} matches the float64 reference`, () => {
        const got = vectorApply(fns![kind])(xs);
        const ref = ACCURATE[label] ?? (unary[name as UnaryName][kind] as (x: number) => number);
        const [rtol0, atol] = BOUNDS[label] ?? [0, 0];
        // the GELU pair: u is rounded to float32 before e^{−2u}, a relative error ∝ |2u| (float32 PyTorch's too)
        const rtol = (x: number) => (label.endsWith('gelu') ? rtol0 + 2.5e-7 * Math.abs(2 * geluU(x)) : rtol0);
        let worst = 0, worstAt = 0;
        for (let i = 0; i < xs.length; i++) {
          const want = Math.fround(ref(xs[i]!));
          const g = got[i]!;
          if (!Number.isFinite(want) || !Number.isFinite(g)) {
            if (!Object.is(g, want) && !(Number.isNaN(g) && Number.isNaN(want))) {
              expect.fail(`${label}(${xs[i]}) = ${g}, reference ${want}`);
            }
            continue;
          }
          const err = Math.abs(g - want);
          const r = err === 0 ? 0 : err / (rtol(xs[i]!) * Math.abs(want) + atol);
          if (r > worst) (worst = r), (worstAt = i);
        }
        expect(worst, `${label}(${xs[worstAt]}) = ${got[worstAt]}, reference ${ref(xs[worstAt]!)}`).toBeLessThanOrEqual(1);
      });
    }
  }
  it('signs of zero and NaN handling follow the JS kernels', () => {
    const relu = vectorApply(WASM_UNARY.relu!.f)(Float32Array.from([-0, NaN, -Infinity, 2]));
    expect([...relu].map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual([0, 0, 0, 2]);
    const neg = vectorApply(WASM_UNARY.neg!.f)(Float32Array.from([0, NaN, 1, -Infinity]));
    expect(Object.is(neg[0], -0) && Number.isNaN(neg[1]) && neg[2] === -1 && neg[3] === Infinity).toBe(true);
  });
});
