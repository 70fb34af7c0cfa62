// bidiagonal-svd.ts's bidiagonalValues (the Golub–Kahan implicit-shift QR iteration) as one
// WebAssembly function. It runs once per `from svd_*` initialiser, too briefly for V8 to finish
// optimising the JavaScript, which then spends most of its time in baseline code. The wasm body is
// the JavaScript's operations in the same order — f64 abs, neg, max, +, −, ×, ÷ and sqrt are exact
// IEEE operations in both — so its singular values are the same bits (the tests compare them with
// the JavaScript loop, which stays as the fallback without WebAssembly).
import { Code, F64, growTo, I32, lazyModule, type Local, memoryFor } from '../backends/wasm-emit.ts';

const EPS = 2 ** -52;
const TINY = 2 ** -966;
/** turns of the iteration per call into the module */
const STEPS = 64;

interface ValuesInstance {
  memory: WebAssembly.Memory;
  /**
   * `steps` turns of the iteration (fewer if it ends) on s (n doubles at byte 0) and e (n doubles
   * after s, e[n − 1] = 0) from the block end p and the turn count `sweeps`: the new p (0 when s
   * holds the singular values), or −1 if the iteration did not converge
   */
  values(n: number, p: number, sweeps: number, steps: number): number;
}

const module = lazyModule((mb) => {
  const hypotFn = mb.func([F64, F64], [F64], hypot);
  mb.func([I32, I32, I32, I32], [I32], (c) => values(c, hypotFn), 'values');
});
let instance: ValuesInstance | undefined;

/**
 * B's singular values by the WebAssembly iteration, or null without WebAssembly (or memory for n). The instance and
 * its memory are kept for the process (grown when a larger n comes).
 */
export function bidiagonalValuesWasm(d: Float64Array, e: Float64Array): Float64Array | null {
  const built = module();
  if (!built) return null;
  const n = d.length;
  const bytes = 16 * n;
  if (!instance) {
    const memory = memoryFor(bytes);
    const ex = new WebAssembly.Instance(built, { env: { mem: memory } }).exports as unknown as Omit<ValuesInstance, 'memory'>;
    instance = { memory, values: ex.values };
  }
  const { memory } = instance;
  if (!growTo(memory, bytes)) return null; // beyond what a wasm memory holds: the JavaScript iteration takes it
  const s = new Float64Array(memory.buffer, 0, n);
  const ee = new Float64Array(memory.buffer, 8 * n, n);
  s.set(d);
  ee.fill(0);
  ee.set(e.subarray(0, Math.max(n - 1, 0)));
  // a few turns a call: V8 runs new wasm code in Liftoff (its baseline compiler) and swaps in
  // TurboFan's code between calls, not inside one (one call for everything took ~30% longer the
  // first time in a process)
  for (let p = n, sweeps = 0; p > 0; sweeps += STEPS) {
    p = instance.values(n, p, sweeps, STEPS);
    if (p < 0) throw new Error('svd: the bidiagonal QR iteration did not converge');
  }
  return s.slice();
}

/** bidiagonal-svd.ts's hypot: √(a² + b²) as big·√(1 + (small/big)²) */
function hypot(c: Code): void {
  const [a, b] = [c.param(0), c.param(1)];
  const [x, y, big, r] = [c.local(F64), c.local(F64), c.local(F64), c.local(F64)];
  c.get(a).f64Abs().set(x);
  c.get(b).f64Abs().set(y);
  c.get(x).get(y).get(x).get(y).f64Gt().select().tee(big).f64(0).f64Eq().if_().f64(0).return_().end();
  // r = small / big
  c.get(y).get(x).get(x).get(y).f64Gt().select().get(big).f64Div().set(r);
  c.get(big).f64(1).get(r).get(r).f64Mul().f64Add().f64Sqrt().f64Mul();
}

/** The iteration over s (byte 0) and e (byte 8n): bidiagonalValues's loop, statement by statement. */
function values(c: Code, hypotFn: number): void {
  const [n, p, sweeps, steps] = [0, 1, 2, 3].map((i) => c.param(i));
  const [sb, eb, k, ks, kase, j, last] = [0, 1, 2, 3, 4, 5, 6].map(() => c.local(I32));
  const [t, cs, sn, f, g, scale, sp, spm1, epm1, sk, ek, b, cc, shift, x] = Array.from({ length: 15 }, () => c.local(F64));

  /** push the byte address of base[idx + delta] */
  const at = (base: Local, idx: Local, delta = 0) => {
    c.get(base).get(idx);
    if (delta !== 0) c.i32(delta).i32Add();
    c.i32(3).i32Shl().i32Add();
  };
  const ld = (base: Local, idx: Local, delta = 0) => (at(base, idx, delta), c.f64Load());
  const st = (base: Local, idx: Local, delta: number, value: () => void) => (at(base, idx, delta), value(), c.f64Store());
  /** t = hypot(s[j], f); cs = s[j] / t; sn = f / t; s[j] = t — the chases' rotation */
  const chaseRotation = () => {
    ld(sb, j).get(f).call(hypotFn).set(t);
    ld(sb, j).get(t).f64Div().set(cs);
    c.get(f).get(t).f64Div().set(sn);
    st(sb, j, 0, () => c.get(t));
  };
  /** a ≤ TINY + EPS·b with a and b pushed by the callbacks */
  const negligible = (a: () => void, bSum: () => void) => (a(), c.f64(TINY).f64(EPS), bSum(), c.f64Mul().f64Add().f64Le());

  c.i32(0).set(sb);
  c.get(n).i32(3).i32Shl().set(eb);
  c.get(sweeps).get(steps).i32Add().set(last);
  c.block().loop(); // while (p > 0), `steps` turns at most
  c.get(p).i32(0).i32LeS().brIf(1);
  c.get(sweeps).get(last).i32Eq().brIf(1);
  // if (++sweeps > 75n + 100) fail
  c.get(sweeps).i32(1).i32Add().tee(sweeps).get(n).i32(75).i32Mul().i32(100).i32Add().i32GtS().if_().i32(-1).return_().end();

  // k: the last negligible e[k] below p − 1 (or −1)
  c.get(p).i32(2).i32Sub().set(k);
  c.block().loop();
  c.get(k).i32(0).i32LtS().brIf(1);
  negligible(() => ld(eb, k).f64Abs(), () => (ld(sb, k).f64Abs(), ld(sb, k, 1).f64Abs(), c.f64Add()));
  c.if_();
  st(eb, k, 0, () => c.f64(0));
  c.br(2);
  c.end();
  c.get(k).i32(1).i32Sub().set(k);
  c.br(0).end().end();

  c.get(k).get(p).i32(2).i32Sub().i32Eq().if_();
  c.i32(4).set(kase);
  c.else_();
  // ks: the last negligible s[ks] in (k, p − 1]
  c.get(p).i32(1).i32Sub().set(ks);
  c.block().loop();
  c.get(ks).get(k).i32LeS().brIf(1);
  // t = |e[ks]| + (ks ≠ k + 1 ? |e[ks − 1]| : 0)   (ks ≠ p always: ks ≤ p − 1)
  ld(eb, ks).f64Abs();
  c.get(ks).get(k).i32(1).i32Add().i32Ne().if_();
  ld(eb, ks, -1).f64Abs().set(x);
  c.else_();
  c.f64(0).set(x);
  c.end();
  c.get(x).f64Add().set(t);
  negligible(() => ld(sb, ks).f64Abs(), () => c.get(t));
  c.if_();
  st(sb, ks, 0, () => c.f64(0));
  c.br(2);
  c.end();
  c.get(ks).i32(1).i32Sub().set(ks);
  c.br(0).end().end();
  c.get(ks).get(k).i32Eq().if_();
  c.i32(3).set(kase);
  c.else_();
  c.get(ks).get(p).i32(1).i32Sub().i32Eq().if_();
  c.i32(1).set(kase);
  c.else_();
  c.i32(2).set(kase);
  c.get(ks).set(k);
  c.end();
  c.end();
  c.end();
  c.get(k).i32(1).i32Add().set(k);

  c.get(kase).i32(1).i32Eq().if_();
  {
    // a zero at the bottom of the diagonal: chase e[p − 2] away
    ld(eb, p, -2).set(f);
    st(eb, p, -2, () => c.f64(0));
    c.get(p).i32(2).i32Sub().set(j);
    c.block().loop();
    c.get(j).get(k).i32LtS().brIf(1);
    chaseRotation();
    c.get(j).get(k).i32Ne().if_();
    c.get(sn).f64Neg();
    ld(eb, j, -1).f64Mul().set(f);
    st(eb, j, -1, () => (c.get(cs), ld(eb, j, -1), c.f64Mul()));
    c.end();
    c.get(j).i32(1).i32Sub().set(j);
    c.br(0).end().end();
  }
  c.else_();
  c.get(kase).i32(2).i32Eq().if_();
  {
    // a zero inside the diagonal: split there
    ld(eb, k, -1).set(f);
    st(eb, k, -1, () => c.f64(0));
    c.get(k).set(j);
    c.block().loop();
    c.get(j).get(p).i32GeS().brIf(1);
    chaseRotation();
    c.get(sn).f64Neg();
    ld(eb, j).f64Mul().set(f);
    st(eb, j, 0, () => (c.get(cs), ld(eb, j), c.f64Mul()));
    c.get(j).i32(1).i32Add().set(j);
    c.br(0).end().end();
  }
  c.else_();
  c.get(kase).i32(3).i32Eq().if_();
  {
    // one implicit-shift QR sweep over s[k..p−1] (Wilkinson shift from the trailing 2×2)
    ld(sb, p, -1).f64Abs();
    ld(sb, p, -2).f64Abs().f64Max();
    ld(eb, p, -2).f64Abs().f64Max();
    ld(sb, k).f64Abs().f64Max();
    ld(eb, k).f64Abs().f64Max().set(scale);
    ld(sb, p, -1).get(scale).f64Div().set(sp);
    ld(sb, p, -2).get(scale).f64Div().set(spm1);
    ld(eb, p, -2).get(scale).f64Div().set(epm1);
    ld(sb, k).get(scale).f64Div().set(sk);
    ld(eb, k).get(scale).f64Div().set(ek);
    // b = ((spm1 + sp)(spm1 − sp) + epm1²) / 2; cc = (sp·epm1)(sp·epm1)
    c.get(spm1).get(sp).f64Add().get(spm1).get(sp).f64Sub().f64Mul().get(epm1).get(epm1).f64Mul().f64Add().f64(2).f64Div().set(b);
    c.get(sp).get(epm1).f64Mul().get(sp).get(epm1).f64Mul().f64Mul().set(cc);
    c.f64(0).set(shift);
    c.get(b).f64(0).f64Ne().get(cc).f64(0).f64Ne().i32Or().if_();
    c.get(b).get(b).f64Mul().get(cc).f64Add().f64Sqrt().set(shift);
    c.get(b).f64(0).f64Lt().if_().get(shift).f64Neg().set(shift).end();
    c.get(cc).get(b).get(shift).f64Add().f64Div().set(shift);
    c.end();
    c.get(sk).get(sp).f64Add().get(sk).get(sp).f64Sub().f64Mul().get(shift).f64Add().set(f);
    c.get(sk).get(ek).f64Mul().set(g);
    c.get(k).set(j);
    c.block().loop();
    c.get(j).get(p).i32(1).i32Sub().i32GeS().brIf(1);
    // t = hypot(f, g); cs = f / t; sn = g / t; if (j ≠ k) e[j − 1] = t
    c.get(f).get(g).call(hypotFn).set(t);
    c.get(f).get(t).f64Div().set(cs);
    c.get(g).get(t).f64Div().set(sn);
    c.get(j).get(k).i32Ne().if_();
    st(eb, j, -1, () => c.get(t));
    c.end();
    // f = cs·s[j] + sn·e[j]; e[j] = cs·e[j] − sn·s[j]; g = sn·s[j+1]; s[j+1] = cs·s[j+1]
    c.get(cs), ld(sb, j), c.f64Mul().get(sn), ld(eb, j), c.f64Mul().f64Add().set(f);
    st(eb, j, 0, () => (c.get(cs), ld(eb, j), c.f64Mul().get(sn), ld(sb, j), c.f64Mul().f64Sub()));
    c.get(sn), ld(sb, j, 1), c.f64Mul().set(g);
    st(sb, j, 1, () => (c.get(cs), ld(sb, j, 1), c.f64Mul()));
    // t = hypot(f, g); cs = f / t; sn = g / t; s[j] = t
    c.get(f).get(g).call(hypotFn).set(t);
    c.get(f).get(t).f64Div().set(cs);
    c.get(g).get(t).f64Div().set(sn);
    st(sb, j, 0, () => c.get(t));
    // f = cs·e[j] + sn·s[j+1]; s[j+1] = −sn·e[j] + cs·s[j+1]; g = sn·e[j+1]; e[j+1] = cs·e[j+1]
    c.get(cs), ld(eb, j), c.f64Mul().get(sn), ld(sb, j, 1), c.f64Mul().f64Add().set(f);
    st(sb, j, 1, () => (c.get(sn).f64Neg(), ld(eb, j), c.f64Mul().get(cs), ld(sb, j, 1), c.f64Mul().f64Add()));
    c.get(sn), ld(eb, j, 1), c.f64Mul().set(g);
    st(eb, j, 1, () => (c.get(cs), ld(eb, j, 1), c.f64Mul()));
    c.get(j).i32(1).i32Add().set(j);
    c.br(0).end().end();
    st(eb, p, -2, () => c.get(f));
  }
  c.else_();
  {
    // converged: make s[k] non-negative and move it into descending order
    ld(sb, k).f64(0).f64Le().if_();
    st(sb, k, 0, () => {
      ld(sb, k).f64Neg().f64(0);
      ld(sb, k).f64(0).f64Lt().select();
    });
    c.end();
    c.block().loop();
    c.get(k).get(n).i32(1).i32Sub().i32GeS().brIf(1);
    ld(sb, k), ld(sb, k, 1), c.f64Lt().i32Eqz().brIf(1);
    ld(sb, k).set(x);
    st(sb, k, 0, () => ld(sb, k, 1));
    st(sb, k, 1, () => c.get(x));
    c.get(k).i32(1).i32Add().set(k);
    c.br(0).end().end();
    c.get(p).i32(1).i32Sub().set(p);
  }
  c.end();
  c.end();
  c.end();
  c.br(0).end().end();
  c.get(p);
}
