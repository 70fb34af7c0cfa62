// The bidiagonalisation's row pass (bidiagonal.ts) as a WebAssembly SIMD kernel in f64x2: the
// 4mn²-flop part of an SVD, which V8 runs at about a fifth of this speed as a JavaScript loop.
// Built at first use with the project's own emitter (no toolchain); where WebAssembly SIMD is
// missing, bidiagonal.ts keeps its JavaScript loop.
import { Code, F64, I32, ModuleBuilder, type Local, V128 } from '../backends/wasm-emit.ts';

export interface RowPassKernel {
  memory: WebAssembly.Memory;
  /**
   * bidiagonal.ts's rowPassLoop on the row-major [m, n] matrix at byte offset a (w, u, wn: byte
   * offsets of those vectors): scale column k into v_k, the left and right updates of rows k+1..m−1,
   * the next step's product wn; returns Σ_{i>k+1} a[i, k+1]².
   */
  pass(a: number, w: number, u: number, wn: number, n: number, m: number, k: number, tau: number, tauR: number, scale: number): number;
}

let built: { module: WebAssembly.Module } | null | undefined;

/** A fresh instance with memory for `bytes` bytes, or null without WebAssembly SIMD. */
export function rowPassKernel(bytes: number): RowPassKernel | null {
  if (built === undefined) built = build();
  if (!built) return null;
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) + 1 });
  const ex = new WebAssembly.Instance(built.module, { env: { mem: memory } }).exports as { pass: RowPassKernel['pass'] };
  return { memory, pass: ex.pass };
}

function build(): { module: WebAssembly.Module } | null {
  if (typeof WebAssembly === 'undefined') return null;
  const mb = new ModuleBuilder({ module: 'env', name: 'mem', minPages: 1 });
  mb.func([I32, I32, I32, I32, I32, I32, I32, F64, F64, F64], [F64], rowPass, 'pass');
  const bytes = mb.bytes();
  if (!WebAssembly.validate(bytes)) return null;
  return { module: new WebAssembly.Module(bytes) };
}

function rowPass(c: Code): void {
  const [a, w, u, wn, n, m, k] = [0, 1, 2, 3, 4, 5, 6].map((i) => c.param(i));
  const [tau, tauR, scale] = [c.param(7), c.param(8), c.param(9)];
  const i = c.local(I32);
  const k1 = c.local(I32);
  const r = c.local(I32);
  const p = c.local(I32);
  const pe = c.local(I32);
  const q = c.local(I32); // w or wn, walking with p
  const up = c.local(I32);
  const tv = c.local(F64);
  const td = c.local(F64);
  const cc = c.local(F64);
  const dot = c.local(F64);
  const xs = c.local(F64);
  const below2 = c.local(F64);
  const vk = c.local(I32); // address of a[i, k]
  const vs = c.local(V128); // splat of tv, then td
  const cv = c.local(V128);
  const acc = c.local(V128);
  const acc2 = c.local(V128);
  const x = c.local(V128);
  const addr = (l: Local, base: Local, idx: Local) => c.get(base).get(idx).i32(3).i32Shl().i32Add().set(l);
  /** while (p + bytes <= pe) { body; p, q, up += bytes } */
  const simdLoop = (bytes: number, body: () => void) => {
    c.block().loop();
    c.get(p).i32(bytes).i32Add().get(pe).i32GtS().brIf(1);
    body();
    for (const l of [p, q, up]) c.get(l).i32(bytes).i32Add().set(l);
    c.br(0).end().end();
  };

  c.get(k).i32(1).i32Add().set(k1);
  c.get(k1).set(i);
  c.block().loop();
  c.get(i).get(m).i32GeS().brIf(1);
  // r = a + i·n·8; v_i = a[i, k]·scale, stored; tv = τ v_i
  c.get(a).get(i).get(n).i32Mul().i32(3).i32Shl().i32Add().set(r);
  addr(vk, r, k);
  c.get(vk).get(vk).f64Load().get(scale).f64Mul().tee(xs).f64Store();
  c.get(tau).get(xs).f64Mul().set(tv);
  c.get(tv).f64x2Splat().set(vs);
  c.v128Zero().set(acc);
  addr(p, r, k1);
  addr(pe, r, n);
  addr(q, w, k1);
  addr(up, u, k1);
  // x = a − tv·w; a = x; acc += x·u — four doubles a turn into two accumulators (one would wait
  // on the addition's latency every turn), then two, then one
  const leftUpdateDot = (off: number, into: Local) => {
    c.get(p).v128Load(off, 3).get(vs).get(q).v128Load(off, 3).f64x2Mul().f64x2Sub().set(x);
    c.get(p).get(x).v128Store(off, 3);
    c.get(into).get(x).get(up).v128Load(off, 3).f64x2Mul().f64x2Add().set(into);
  };
  c.v128Zero().set(acc2);
  simdLoop(32, () => {
    leftUpdateDot(0, acc);
    leftUpdateDot(16, acc2);
  });
  simdLoop(16, () => leftUpdateDot(0, acc));
  c.get(acc).get(acc2).f64x2Add().set(acc);
  c.get(acc).f64x2ExtractLane(0).get(acc).f64x2ExtractLane(1).f64Add().set(dot);
  c.get(p).get(pe).i32LtS().if_();
  c.get(p).f64Load().get(tv).get(q).f64Load().f64Mul().f64Sub().set(xs);
  c.get(p).get(xs).f64Store();
  c.get(dot).get(xs).get(up).f64Load().f64Mul().f64Add().set(dot);
  c.end();
  // td = τR·dot; cc = the updated a[i, k+1] (u[k+1] = 1) where i > k+1, else 0
  c.get(tauR).get(dot).f64Mul().set(td);
  c.get(td).f64x2Splat().set(vs);
  c.get(r).get(k1).i32(3).i32Shl().i32Add().f64Load().get(td).f64Sub().f64(0).get(i).get(k1).i32GtS().select().set(cc);
  c.get(below2).get(cc).get(cc).f64Mul().f64Add().set(below2);
  c.get(cc).f64x2Splat().set(cv);
  addr(p, r, k1);
  addr(q, wn, k1);
  addr(up, u, k1);
  // x = a − td·u; a = x; wn += cc·x
  const rightUpdate = (off: number) => {
    c.get(p).v128Load(off, 3).get(vs).get(up).v128Load(off, 3).f64x2Mul().f64x2Sub().set(x);
    c.get(p).get(x).v128Store(off, 3);
    c.get(q).get(q).v128Load(off, 3).get(cv).get(x).f64x2Mul().f64x2Add().v128Store(off, 3);
  };
  simdLoop(32, () => {
    rightUpdate(0);
    rightUpdate(16);
  });
  simdLoop(16, () => rightUpdate(0));
  c.get(p).get(pe).i32LtS().if_();
  c.get(p).f64Load().get(td).get(up).f64Load().f64Mul().f64Sub().set(xs);
  c.get(p).get(xs).f64Store();
  c.get(q).get(q).f64Load().get(cc).get(xs).f64Mul().f64Add().f64Store();
  c.end();
  c.get(i).i32(1).i32Add().set(i);
  c.br(0).end().end();
  c.get(below2);
}
