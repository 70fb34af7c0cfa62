// The bidiagonalisation's row pass (bidiagonal.ts) as a WebAssembly SIMD kernel in f64x2: the
// 4mn²-flop part of an SVD, which V8 runs at about a fifth of this speed as a JavaScript loop; the
// O(n) work between two passes (`between`: in JavaScript it was ~10 ms of a PiSSA compile); and the
// application of one Householder reflector to a block of columns (turning B's singular vectors into
// W's). Built at first use with the project's own emitter (no toolchain), on a plain memory or on a
// shared one (which a worker thread instantiates the same module on: bidiagonal-threads.ts); where
// WebAssembly SIMD is missing, bidiagonal.ts keeps its JavaScript loops.
import { Code, F64, I32, lazyModule, type Local, memoryFor, type ModuleBuilder, sharedMemoryFor, V128 } from '../backends/wasm-emit.ts';

export interface BidiagonalKernel {
  memory: WebAssembly.Memory;
  /** the instance's module (a worker thread instantiates it on the same memory when it is shared) */
  module: WebAssembly.Module;
  /**
   * bidiagonal.ts's rowPassLoop on rows lo..hi−1 (k < lo) of the row-major [m, n] matrix at byte
   * offset a (w, u, wn: byte offsets of those vectors): scale column k into v_k, the left and right
   * updates, those rows' terms of the next step's product added to wn; returns their Σ a[i, k+1]²
   * (i > k+1).
   */
  pass(a: number, w: number, u: number, wn: number, n: number, k: number, lo: number, hi: number, tau: number, tauR: number, scale: number): number;
  /**
   * X ← (I − τ v vᵀ) X for the row-major [rows, c] block at byte offset x, where v[head] = 1 and
   * v[i] (head < i < rows) is the double at byte v + i·stride (v[i] = 0 above head): bidiagonal.ts's
   * reflectLoop, the same arithmetic column by column (f64x2 lanes are two columns).
   */
  reflect(x: number, c: number, rows: number, head: number, v: number, stride: number, tau: number): void;
  /**
   * bidiagonal.ts's betweenLoop: the work of step k between two row passes (w, row k, the right
   * reflector, the vectors zeroed for the next pass), the same arithmetic in the same order; returns
   * τR and leaves e[k] at byte `out`.
   */
  between(a: number, w: number, u: number, wn: number, parts: number, out: number, n: number, k: number, reduce: number, zero: number, tau: number, scale: number): number;
  /** bidiagonal.ts's firstProductLoop: step 0's wn[j] += a[i, 0] a[i, j] (i, j ≥ 1; wn zeroed), the same bits; returns Σ_{i≥1} a[i, 0]² */
  firstProduct(a: number, wn: number, n: number, m: number): number;
}

const define = (mb: ModuleBuilder) => {
  mb.func([I32, I32, I32, I32, I32, I32, I32, I32, F64, F64, F64], [F64], rowPass, 'pass');
  mb.func([I32, I32, I32, I32, I32, I32, F64], [], reflect, 'reflect');
  mb.func([I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F64, F64], [F64], between, 'between');
  mb.func([I32, I32, I32, I32], [F64], firstProduct, 'firstProduct');
};
const modules = { plain: lazyModule(define), shared: lazyModule(define, { shared: true }) };

/**
 * A fresh instance with memory for `bytes` bytes, or null without WebAssembly SIMD (or, when
 * `shared`, without a shared memory, which a worker thread can work on too).
 */
export function bidiagonalKernel(bytes: number, shared = false): BidiagonalKernel | null {
  const module = modules[shared ? 'shared' : 'plain']();
  if (!module) return null;
  const memory = shared ? sharedMemoryFor(bytes) : memoryFor(bytes);
  if (!memory) return null;
  return { memory, module, ...kernelExports(module, memory) };
}

/** The kernel's functions on a memory (what a worker thread calls: the same module on the same shared memory). */
export function kernelExports(module: WebAssembly.Module, memory: WebAssembly.Memory): Pick<BidiagonalKernel, 'pass' | 'reflect' | 'between' | 'firstProduct'> {
  const ex = new WebAssembly.Instance(module, { env: { mem: memory } }).exports as unknown as Pick<BidiagonalKernel, 'pass' | 'reflect' | 'between' | 'firstProduct'>;
  return { pass: ex.pass, reflect: ex.reflect, between: ex.between, firstProduct: ex.firstProduct };
}

/**
 * Step 0's product and column norm, as bidiagonal.ts's firstProductLoop: row by row, Σ a[i, 0]² one
 * term at a time, and (where a[i, 0] ≠ 0) wn[j] += a[i, 0]·a[i, j], two columns at a time in f64x2
 * lanes (each column's sum in row order, as the loop adds it).
 */
function firstProduct(c: Code): void {
  const [a, wn, n, m] = [0, 1, 2, 3].map((i) => c.param(i));
  const i = c.local(I32);
  const row = c.local(I32); // byte offset of row i
  const j = c.local(I32); // byte offset of column j
  const end = c.local(I32); // byte offset of column n
  const [ai, sum] = [c.local(F64), c.local(F64)];
  const vi = c.local(V128);
  c.get(n).i32(3).i32Shl().set(end);
  c.f64(0).set(sum);
  c.i32(1).set(i);
  c.block().loop();
  c.get(i).get(m).i32GeS().brIf(1);
  c.get(a).get(i).get(n).i32Mul().i32(3).i32Shl().i32Add().set(row);
  c.get(row).f64Load().set(ai);
  c.get(sum).get(ai).get(ai).f64Mul().f64Add().set(sum);
  c.get(ai).f64(0).f64Ne().if_();
  {
    c.get(ai).f64x2Splat().set(vi);
    c.i32(8).set(j);
    c.block().loop();
    c.get(j).i32(16).i32Add().get(end).i32GtS().brIf(1);
    c.get(wn).get(j).i32Add();
    c.get(wn).get(j).i32Add().v128Load(0, 3);
    c.get(vi).get(row).get(j).i32Add().v128Load(0, 3).f64x2Mul();
    c.f64x2Add().v128Store(0, 3);
    c.get(j).i32(16).i32Add().set(j);
    c.br(0).end().end();
    c.get(j).get(end).i32LtS().if_();
    c.get(wn).get(j).i32Add();
    c.get(wn).get(j).i32Add().f64Load();
    c.get(ai).get(row).get(j).i32Add().f64Load().f64Mul();
    c.f64Add().f64Store();
    c.end();
  }
  c.end();
  c.get(i).i32(1).i32Add().set(i);
  c.br(0).end().end();
  c.get(sum);
}

/**
 * Step k's work between two row passes, as bidiagonal.ts's betweenLoop does it (each element's
 * operations the same, in f64x2 lanes where elements are independent, one at a time in order for
 * the sum of squares): the last pass's other chunks' vectors added in (reduce of them, in chunk order), w and the left
 * update of row k, the right reflector from the rest of row k (scaled by its largest entry), u, and
 * wn and `zero` vectors of parts zeroed from column k+1.
 */
function between(c: Code): void {
  const [a, w, u, wn, parts, out, n, k, reduce, zero] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => c.param(i));
  const part = c.local(I32); // byte offset of a vector of parts
  const p = c.local(I32);
  const [tau, scale] = [c.param(10), c.param(11)];
  const j = c.local(I32); // byte offset of column j, from k+1
  const end = c.local(I32); // byte offset of column n
  const rk = c.local(I32); // row k
  const [x0, tail, big, sum, t, beta, tauR, sc] = [0, 1, 2, 3, 4, 5, 6, 7].map(() => c.local(F64));
  const [vx, vy] = [c.local(V128), c.local(V128)];
  c.get(n).i32(3).i32Shl().set(end);
  c.get(a).get(k).get(n).i32Mul().i32(3).i32Shl().i32Add().set(rk);
  /** for columns k+1.. (from), two at a time while two are left, then one: pair() / single() with j at the column */
  const columns = (from: number, pair: () => void, single: () => void) => {
    c.get(k).i32(1 + from).i32Add().i32(3).i32Shl().set(j);
    c.block().loop();
    c.get(j).i32(16).i32Add().get(end).i32GtS().brIf(1);
    pair();
    c.get(j).i32(16).i32Add().set(j);
    c.br(0).end().end();
    c.get(j).get(end).i32LtS().if_();
    single();
    c.end();
  };
  /** the address base + j */
  const at = (base: Local) => c.get(base).get(j).i32Add();
  /** the two doubles (v2) or the double (v1) at base + j */
  const v2 = (base: Local) => at(base).v128Load(0, 3);
  const v1 = (base: Local) => at(base).f64Load();
  /** body() for the first `count` vectors of parts, in order, `part` at each */
  const eachPart = (count: Local, body: () => void) => {
    c.i32(0).set(p);
    c.get(parts).set(part);
    c.block().loop();
    c.get(p).get(count).i32GeS().brIf(1);
    body();
    c.get(p).i32(1).i32Add().set(p);
    c.get(part).get(end).i32Add().set(part);
    c.br(0).end().end();
  };
  // wn += each of the last pass's other chunks' vectors, in chunk order
  eachPart(reduce, () =>
    columns(
      0,
      () => (at(wn), v2(wn), v2(part), c.f64x2Add().v128Store(0, 3)),
      () => (at(wn), v1(wn), v1(part), c.f64Add().f64Store()),
    ),
  );
  // w = a[k, ·] + scale·wn; a[k, ·] −= τ w; then wn zeroed for the next pass
  c.get(scale).f64x2Splat().set(vx);
  c.get(tau).f64x2Splat().set(vy);
  columns(
    0,
    () => {
      at(w), v2(rk), c.get(vx), v2(wn), c.f64x2Mul().f64x2Add().v128Store(0, 3);
      at(rk), v2(rk), c.get(vy), v2(w), c.f64x2Mul().f64x2Sub().v128Store(0, 3);
      at(wn).v128Zero().v128Store(0, 3);
    },
    () => {
      at(w), v1(rk), c.get(scale), v1(wn), c.f64Mul().f64Add().f64Store();
      at(rk), v1(rk), c.get(tau), v1(w), c.f64Mul().f64Sub().f64Store();
      at(wn).f64(0).f64Store();
    },
  );
  // and the next pass's other chunks' vectors
  eachPart(zero, () => columns(0, () => at(part).v128Zero().v128Store(0, 3), () => at(part).f64(0).f64Store()));
  // x0 = a[k, k+1]; tail = max |a[k, j]| over j > k+1; u = e_{k+1}
  c.get(rk).get(k).i32(1).i32Add().i32(3).i32Shl().i32Add().f64Load().set(x0);
  c.f64(0).set(tail);
  columns(
    1,
    () => {
      c.get(tail), v1(rk), c.f64Abs().f64Max().set(tail);
      c.get(tail), at(rk).f64Load(8).f64Abs().f64Max().set(tail);
    },
    () => (c.get(tail), v1(rk), c.f64Abs().f64Max().set(tail)),
  );
  columns(0, () => at(u).v128Zero().v128Store(0, 3), () => at(u).f64(0).f64Store());
  c.get(u).get(k).i32(1).i32Add().i32(3).i32Shl().i32Add().f64(1).f64Store();
  c.f64(0).set(tauR);
  c.get(x0).set(beta); // e[k] when the tail is zero
  c.get(tail).f64(0).f64Ne().if_();
  {
    c.get(tail).get(x0).f64Abs().f64Max().set(big);
    c.get(x0).get(big).f64Div().tee(t).get(t).f64Mul().set(sum);
    /** s += (a[k, j + off/8] / big)², one term at a time in column order */
    const sq = (off: number) => (c.get(sum), at(rk).f64Load(off).get(big).f64Div().tee(t).get(t).f64Mul().f64Add().set(sum));
    columns(1, () => (sq(0), sq(8)), () => sq(0));
    // beta = −sign(x0)·big·√s, sign(x0) = 1 where x0 ≥ 0
    c.get(big).f64Neg().get(big).f64(0).get(x0).f64Le().select().get(sum).f64Sqrt().f64Mul().set(beta);
    c.get(beta).get(x0).f64Sub().get(beta).f64Div().set(tauR);
    c.f64(1).get(x0).get(beta).f64Sub().f64Div().set(sc);
    c.get(sc).f64x2Splat().set(vx);
    columns(
      1,
      () => {
        at(rk), v2(rk), c.get(vx).f64x2Mul().tee(vy).v128Store(0, 3);
        at(u).get(vy).v128Store(0, 3);
      },
      () => {
        at(rk), v1(rk), c.get(sc).f64Mul().tee(t).f64Store();
        at(u).get(t).f64Store();
      },
    );
  }
  c.end();
  c.get(out).get(beta).f64Store();
  c.get(tauR);
}


/**
 * One reflector on a block of columns, a few columns at a time: 8 (four f64x2 accumulators held in
 * registers while every row streams past), then 2, then a last odd one. Per column: s = X[head] +
 * Σ v_i X[i] over i > head with v_i ≠ 0, in row order; s ← τ s; X[head] −= s; X[i] −= v_i s.
 */
function reflect(c: Code): void {
  const [x, cols, rows, head, v, stride] = [0, 1, 2, 3, 4, 5].map((i) => c.param(i));
  const tau = c.param(6);
  const j = c.local(I32); // first column of the chunk
  const i = c.local(I32);
  const px = c.local(I32); // X[i, j]
  const pv = c.local(I32); // v[i]
  const rowBytes = c.local(I32);
  const vi = c.local(F64);
  const vs = c.local(V128);
  const acc = [0, 1, 2, 3].map(() => c.local(V128));
  const s1 = c.local(F64);
  c.get(cols).i32(3).i32Shl().set(rowBytes);
  /** for (i = head + 1; i < rows; i++) with px at X[i, j], pv at v[i]: if (v_i ≠ 0) body() */
  const rowsBelow = (body: () => void) => {
    c.get(head).i32(1).i32Add().set(i);
    c.get(x).get(i).get(rowBytes).i32Mul().i32Add().get(j).i32(3).i32Shl().i32Add().set(px);
    c.get(v).get(i).get(stride).i32Mul().i32Add().set(pv);
    c.block().loop();
    c.get(i).get(rows).i32GeS().brIf(1);
    c.get(pv).f64Load().tee(vi).f64(0).f64Ne().if_();
    body();
    c.end();
    c.get(i).i32(1).i32Add().set(i);
    c.get(px).get(rowBytes).i32Add().set(px);
    c.get(pv).get(stride).i32Add().set(pv);
    c.br(0).end().end();
  };
  /** X[head, j..j+w) at px */
  const headRow = () => c.get(x).get(head).get(rowBytes).i32Mul().i32Add().get(j).i32(3).i32Shl().i32Add().set(px);
  /** columns j..j+2V (V vectors) while they fit, then j += 2V */
  const vectorChunks = (V: number) => {
    const a = acc.slice(0, V);
    c.block().loop();
    c.get(j).i32(2 * V).i32Add().get(cols).i32GtS().brIf(1);
    headRow();
    a.forEach((l, t) => c.get(px).v128Load(16 * t, 3).set(l));
    rowsBelow(() => {
      c.get(vi).f64x2Splat().set(vs);
      a.forEach((l, t) => c.get(l).get(vs).get(px).v128Load(16 * t, 3).f64x2Mul().f64x2Add().set(l));
    });
    c.get(tau).f64x2Splat().set(vs);
    a.forEach((l) => c.get(l).get(vs).f64x2Mul().set(l));
    headRow();
    a.forEach((l, t) => c.get(px).get(px).v128Load(16 * t, 3).get(l).f64x2Sub().v128Store(16 * t, 3));
    rowsBelow(() => {
      c.get(vi).f64x2Splat().set(vs);
      a.forEach((l, t) => c.get(px).get(px).v128Load(16 * t, 3).get(vs).get(l).f64x2Mul().f64x2Sub().v128Store(16 * t, 3));
    });
    c.get(j).i32(2 * V).i32Add().set(j);
    c.br(0).end().end();
  };
  c.i32(0).set(j);
  vectorChunks(4);
  vectorChunks(1);
  // a last odd column
  c.get(j).get(cols).i32LtS().if_();
  headRow();
  c.get(px).f64Load().set(s1);
  rowsBelow(() => c.get(s1).get(vi).get(px).f64Load().f64Mul().f64Add().set(s1));
  c.get(s1).get(tau).f64Mul().set(s1);
  headRow();
  c.get(px).get(px).f64Load().get(s1).f64Sub().f64Store();
  rowsBelow(() => c.get(px).get(px).f64Load().get(vi).get(s1).f64Mul().f64Sub().f64Store());
  c.end();
}

/**
 * The row pass of step k on rows lo..hi−1 (bidiagonal.ts's rowPassLoop). Rows are worked on in pairs: the two rows share every load of w, u and wn (a third of the loads
 * and stores of one row at a time) and their dot products are two independent chains (≈ 15% less
 * time than one row at a time; three or four rows were no faster, and recomputing the left update
 * in the second loop instead of storing it was slower). Each row's
 * arithmetic is the same operations in the same order as alone (wn gets row i's term, then row
 * i+1's), so the result does not depend on the pairing; an odd last row goes alone.
 */
function rowPass(c: Code): void {
  const [a, w, u, wn, n, k, lo, hi] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => c.param(i));
  const [tau, tauR, scale] = [c.param(8), c.param(9), c.param(10)];
  const i = c.local(I32);
  const k1 = c.local(I32);
  const pe = c.local(I32); // end of row 0's run
  const q = c.local(I32); // w or wn, walking with the rows
  const up = c.local(I32); // u, walking with the rows
  const below2 = c.local(F64);
  const xs = c.local(F64);
  const x = c.local(V128);
  // w (then u) and u (then wn) at offsets 0 and 16, loaded once for both rows: V8 does not reuse a
  // load across the stores into the rows (they might alias)
  const va = [c.local(V128), c.local(V128)];
  const vb = [c.local(V128), c.local(V128)];
  /** one row's state: its pointer, v_i's address, the splats of tv (then td) and cc, the dot's accumulators */
  const row = () => ({
    r: c.local(I32), p: c.local(I32), vk: c.local(I32),
    tv: c.local(F64), td: c.local(F64), cc: c.local(F64), dot: c.local(F64),
    vs: c.local(V128), cv: c.local(V128), acc: c.local(V128), acc2: c.local(V128),
  });
  const rows = [row(), row()];
  const addr = (l: Local, base: Local, idx: Local) => c.get(base).get(idx).i32(3).i32Shl().i32Add().set(l);

  /** the work of rows i..i+R−1 (R = 1 or 2) */
  const work = (R: number) => {
    const rs = rows.slice(0, R);
    /** while (p0 + bytes <= pe) { body; every pointer += bytes } */
    const simdLoop = (bytes: number, body: () => void) => {
      c.block().loop();
      c.get(rs[0].p).i32(bytes).i32Add().get(pe).i32GtS().brIf(1);
      body();
      for (const l of [...rs.map((s) => s.p), q, up]) c.get(l).i32(bytes).i32Add().set(l);
      c.br(0).end().end();
    };
    const start = (qBase: Local) => {
      for (const s of rs) addr(s.p, s.r, k1);
      addr(pe, rs[0].r, n);
      addr(q, qBase, k1);
      addr(up, u, k1);
    };
    rs.forEach((s, t) => {
      // r = a + (i + t)·n·8; v = a[i+t, k]·scale, stored; tv = τ v
      c.get(a).get(i).i32(t).i32Add().get(n).i32Mul().i32(3).i32Shl().i32Add().set(s.r);
      addr(s.vk, s.r, k);
      c.get(s.vk).get(s.vk).f64Load().get(scale).f64Mul().tee(xs).f64Store();
      c.get(tau).get(xs).f64Mul().set(s.tv);
      c.get(s.tv).f64x2Splat().set(s.vs);
      c.v128Zero().set(s.acc);
      c.v128Zero().set(s.acc2);
    });
    start(w);
    // x = a − tv·w; a = x; acc += x·u — four doubles a turn into two accumulators (one would wait
    // on the addition's latency every turn), then two, then one
    const load = (offs: number[]) => offs.forEach((off, t) => {
      c.get(q).v128Load(off, 3).set(va[t]);
      c.get(up).v128Load(off, 3).set(vb[t]);
    });
    /** x = a − tv·w (w in va[t]); a = x; acc += x·u (u in vb[t]) */
    const leftUpdateDot = (s: (typeof rows)[0], t: number, into: Local) => {
      c.get(s.p).v128Load(16 * t, 3).get(s.vs).get(va[t]).f64x2Mul().f64x2Sub().set(x);
      c.get(s.p).get(x).v128Store(16 * t, 3);
      c.get(into).get(x).get(vb[t]).f64x2Mul().f64x2Add().set(into);
    };
    simdLoop(32, () => {
      load([0, 16]);
      for (const s of rs) leftUpdateDot(s, 0, s.acc), leftUpdateDot(s, 1, s.acc2);
    });
    simdLoop(16, () => {
      load([0]);
      for (const s of rs) leftUpdateDot(s, 0, s.acc);
    });
    for (const s of rs) {
      c.get(s.acc).get(s.acc2).f64x2Add().set(s.acc);
      c.get(s.acc).f64x2ExtractLane(0).get(s.acc).f64x2ExtractLane(1).f64Add().set(s.dot);
    }
    c.get(rs[0].p).get(pe).i32LtS().if_();
    for (const s of rs) {
      c.get(s.p).f64Load().get(s.tv).get(q).f64Load().f64Mul().f64Sub().set(xs);
      c.get(s.p).get(xs).f64Store();
      c.get(s.dot).get(xs).get(up).f64Load().f64Mul().f64Add().set(s.dot);
    }
    c.end();
    rs.forEach((s, t) => {
      // td = τR·dot; cc = the updated a[i+t, k+1] (u[k+1] = 1) where i+t > k+1, else 0
      c.get(tauR).get(s.dot).f64Mul().set(s.td);
      c.get(s.td).f64x2Splat().set(s.vs);
      c.get(s.r).get(k1).i32(3).i32Shl().i32Add().f64Load().get(s.td).f64Sub().f64(0).get(i).i32(t).i32Add().get(k1).i32GtS().select().set(s.cc);
      c.get(below2).get(s.cc).get(s.cc).f64Mul().f64Add().set(below2);
      c.get(s.cc).f64x2Splat().set(s.cv);
    });
    start(wn);
    // x = a − td·u; a = x; wn += cc·x, row by row
    const rightUpdate = (off: number) => {
      c.get(up).v128Load(off, 3).set(va[0]);
      c.get(q);
      c.get(q).v128Load(off, 3);
      for (const s of rs) {
        c.get(s.p).v128Load(off, 3).get(s.vs).get(va[0]).f64x2Mul().f64x2Sub().set(x);
        c.get(s.p).get(x).v128Store(off, 3);
        c.get(s.cv).get(x).f64x2Mul().f64x2Add();
      }
      c.v128Store(off, 3);
    };
    simdLoop(32, () => {
      rightUpdate(0);
      rightUpdate(16);
    });
    simdLoop(16, () => rightUpdate(0));
    c.get(rs[0].p).get(pe).i32LtS().if_();
    c.get(q);
    c.get(q).f64Load();
    for (const s of rs) {
      c.get(s.p).f64Load().get(s.td).get(up).f64Load().f64Mul().f64Sub().set(xs);
      c.get(s.p).get(xs).f64Store();
      c.get(s.cc).get(xs).f64Mul().f64Add();
    }
    c.f64Store();
    c.end();
  };

  c.get(k).i32(1).i32Add().set(k1);
  c.get(lo).set(i);
  // pairs while two rows are left
  c.block().loop();
  c.get(i).i32(1).i32Add().get(hi).i32GeS().brIf(1);
  work(2);
  c.get(i).i32(2).i32Add().set(i);
  c.br(0).end().end();
  // an odd last row
  c.get(i).get(hi).i32LtS().if_();
  work(1);
  c.end();
  c.get(below2);
}
