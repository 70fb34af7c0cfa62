// Kernel → WebAssembly with 128-bit SIMD: the second renderer of the CPU backend's 'loops' kernels
// (elementwise and reduction kernels; the first is the JavaScript of compiler/codegen/cpu-loops.ts,
// whose structure this follows: scopes, induction pointers, loop-invariant code motion by placing
// every subexpression in the outermost loop binding one of its free variables, structural CSE).
//
// Vectorisation (4 float32 lanes):
//  - along the innermost output variable (the store is contiguous in it), with a scalar tail: a load
//    with coefficient 1 on it is one v128 load, a load without it is loop-invariant there (computed
//    once outside and splatted), any other (a transposed operand) is gathered lane by lane; a reduce
//    whose body mentions that variable keeps a vector accumulator per 4 outputs (column sums: rows
//    streamed 4 columns at a time);
//  - otherwise a reduce (softmax's max and sum, layer norm's moments, Σ over rows) is vectorised
//    along its innermost variable when the body's loads are contiguous in it: 4 vector accumulators,
//    a vector remainder loop, a scalar tail, a horizontal sum.
// A kernel where neither applies (a scalar, a short row, a strided reduce) is rendered as scalar wasm:
// the JS rendering of a kernel run once a step stays in V8's interpreter, which boxes every double it
// computes (an allocation per value, every step). A kernel that needs something without a wasm
// rendering (a unary function missing from wasm-unary.ts, pow with a non-constant exponent, a reduce
// the JS emitter materialises across an output loop) is not rendered: it stays JavaScript — never a
// wrong result.
//
// Arithmetic is float32 (the JS kernels compute in doubles and round at the store): sums differ in
// the order and rounding of their terms, by a few ulp of Σ|terms| (wasm-loops.test.ts states the bound).
//
// Each kernel is one exported function (lo, hi, tab, argp): output rows lo ≤ i < hi of its outermost
// loop (wasm-loops-threads.ts runs a big kernel's rows in chunks on two threads over a shared memory), tab → the byte addresses of its buffers (i32, in the order of `bufs`), argp → the
// run-time scalars (f32, in the order of the plan's args). Buffers are addressed through the table so
// that the executable may swap them (assign) between calls.
import { bindingLevel, coefMap, deepestBinding, exprKey, freeVars, rowMajor } from '../../compiler/codegen/cpu-kexpr.ts';
import type { BufferId, Kernel, KExpr } from '../../compiler/fuse/kernel-ir.ts';
import { Code, F32, I32, type Local, V128, type ValType } from './wasm-emit.ts';
import { wasmUnary } from './wasm-unary.ts';

/** lanes of a v128 (f32x4) */
const W = 4;
/** vector accumulators of a reduce vectorised along its own variable (f32x4.add latency × issue width) */
const ACCS = 4;
const PARAMS: ValType[] = [I32, I32, I32, I32];

type Bound = number | { l: Local };
type Bytes = number[];
/**
 * Code as a tree of byte runs, joined once when the function is finished (a loop's body is not copied
 * into the loop's bytes, nor the loop into its parent's: a nest of depth d copied its innermost
 * statements d times).
 */
type Chunk = Bytes | { parts: Chunk[] };

/** the bytes of a chunk, appended to out */
function flattenInto(c: Chunk, out: number[]): void {
  if (Array.isArray(c)) for (let i = 0; i < c.length; i++) out.push(c[i]!);
  else for (const p of c.parts) flattenInto(p, out);
}

interface Scope {
  v: string | null;
  /** iterates W lanes of v at a time: values that depend on v are f32x4 */
  vec: boolean;
  counter: Local;
  from: Bound;
  end: Bound;
  unroll: number;
  /** element offset along v of this view (the accumulators of an unrolled vector reduce) */
  laneOff: number;
  isOut: boolean;
  stmts: Chunk[];
  inits: Chunk[];
  steps: Chunk[];
  ptrs: Map<string, Local>;
  ptrStep: Map<Local, number>;
  cse: Map<string, Val>;
  splats: Map<Local, Local>;
}

interface Val {
  l: Local;
  vec: boolean;
  /** the scope whose statements computed it */
  s: Scope;
}

/** something this renderer does not handle: the kernel stays JavaScript */
export class NotRendered extends Error {}

const BIN_VEC: Record<string, (c: Code) => void> = {
  '+': (c) => c.f32x4Add(),
  '-': (c) => c.f32x4Sub(),
  '*': (c) => c.f32x4Mul(),
  '/': (c) => c.f32x4Div(),
  max: (c) => c.f32x4Max(),
};
const BIN_SCALAR: Record<string, (c: Code) => void> = {
  '+': (c) => c.f32Add(),
  '-': (c) => c.f32Sub(),
  '*': (c) => c.f32Mul(),
  '/': (c) => c.f32Div(),
  max: (c) => c.f32Max(),
};

/** every load of e (reduce bodies included) that mentions v has coefficient 1 on it */
export function contiguousIn(e: KExpr, v: string): boolean {
  switch (e.k) {
    case 'load': {
      const c = coefMap(e.at).get(v);
      return c === undefined || c === 1;
    }
    case 'unary':
    case 'unaryGrad':
      return contiguousIn(e.a, v);
    case 'bin':
      return contiguousIn(e.a, v) && contiguousIn(e.b, v);
    case 'reduce':
      return contiguousIn(e.body, v);
    default:
      return true;
  }
}

const frag = () => new Code(PARAMS);

class KernelWriter {
  readonly code = new Code(PARAMS);
  readonly lo = this.code.param(0);
  readonly hi = this.code.param(1);
  readonly tab = this.code.param(2);
  readonly argp = this.code.param(3);
  private readonly bufLocals = new Map<BufferId, Local>();
  readonly pre: Scope;

  /** bufs: the table order (canonicalBuffers) */
  constructor(private readonly args: readonly string[], readonly bufs: readonly BufferId[]) {
    this.pre = this.scope(null, 1, 0, 1, false);
  }

  scope(v: string | null, end: Bound, from: Bound, unroll: number, vec: boolean): Scope {
    return {
      v, vec, from, end, unroll, laneOff: 0, isOut: false,
      counter: v === null ? (0 as Local) : this.code.local(I32),
      stmts: [], inits: [], steps: [],
      ptrs: new Map(), ptrStep: new Map(), cse: new Map(), splats: new Map(),
    };
  }

  laneOf(s: Scope, laneOff: number): Scope {
    return { ...s, laneOff, cse: new Map(), splats: new Map() };
  }

  private bufLocal(id: BufferId): Local {
    let l = this.bufLocals.get(id);
    if (l === undefined) {
      l = this.code.local(I32);
      this.bufLocals.set(id, l);
    }
    return l;
  }

  private bindIndex(chain: Scope[], v: string): number {
    return bindingLevel(chain, v, 'wasm loops');
  }

  private target(chain: Scope[], vars: Iterable<string>): number {
    return deepestBinding(chain, vars, 'wasm loops');
  }

  /** the byte address of buffer `buf` at affine offset (at, base) with chain[0..level] bound: pointer + constant */
  offset(at: Map<string, number>, base: number, buf: BufferId, chain: Scope[], level: number): { p: Local; add: number } {
    let deepest = 0;
    for (const v of at.keys()) {
      const b = this.bindIndex(chain, v);
      if (b <= level) deepest = Math.max(deepest, b);
    }
    if (deepest === 0) return { p: this.bufLocal(buf), add: 4 * base };
    const s = chain[deepest]!;
    const parts: string[] = [];
    let step = 0;
    for (const v of at.keys()) {
      const b = this.bindIndex(chain, v), c = at.get(v)!;
      if (b <= deepest) parts.push(`${b}:${c}`);
      if (b === deepest) step += c;
    }
    const key = `${buf}|${parts.length > 1 ? parts.sort().join(',') : (parts[0] ?? '')}+${base}`;
    let p = s.ptrs.get(key);
    if (p === undefined) {
      const start = this.offset(at, base, buf, chain, deepest - 1);
      p = this.code.local(I32);
      const f = frag().get(start.p);
      if (start.add !== 0) f.i32(start.add).i32Add();
      if (step !== 0) {
        if (typeof s.from === 'number') {
          if (s.from !== 0) f.i32(4 * step * s.from).i32Add();
        } else f.get(s.from.l).i32(4 * step).i32Mul().i32Add();
      }
      s.inits.push(f.set(p).bytes);
      if (step !== 0) s.steps.push(frag().get(p).i32(4 * step * s.unroll).i32Add().set(p).bytes);
      s.ptrs.set(key, p);
      s.ptrStep.set(p, step);
    }
    return { p, add: 4 * s.laneOff * s.ptrStep.get(p)! };
  }

  /** push the address; returns the memarg offset (non-negative) */
  private addr(f: Code, a: { p: Local; add: number }): number {
    f.get(a.p);
    if (a.add >= 0) return a.add;
    f.i32(a.add).i32Add();
    return 0;
  }

  private isVec(e: KExpr, here: Scope[]): boolean {
    const fv = freeVars(e);
    for (const s of here) if (s.vec && fv.has(s.v!)) return true;
    return false;
  }

  /** v as an f32x4 local (a scalar splatted once, in the scope that computed it) */
  asVec(v: Val): Local {
    if (v.vec) return v.l;
    let l = v.s.splats.get(v.l);
    if (l === undefined) {
      l = this.code.local(V128);
      v.s.stmts.push(frag().get(v.l).f32x4Splat().set(l).bytes);
      v.s.splats.set(v.l, l);
    }
    return l;
  }

  private constVal(x: number): Val {
    const key = `C${Object.is(x, -0) ? '-0' : String(x)}`;
    let v = this.pre.cse.get(key);
    if (!v) {
      const l = this.code.local(F32);
      this.pre.stmts.push(frag().f32(x).set(l).bytes);
      v = { l, vec: false, s: this.pre };
      this.pre.cse.set(key, v);
    }
    return v;
  }

  emit(e: KExpr, chain: Scope[]): Val {
    if (e.k === 'const') return this.constVal(e.v);
    const t = this.target(chain, freeVars(e));
    const s = chain[t]!;
    const key = exprKey(e);
    const hit = s.cse.get(key);
    if (hit) return hit;
    const here = chain.slice(0, t + 1);
    const vec = this.isVec(e, here);
    const f = frag();
    let l: Local;
    switch (e.k) {
      case 'arg': {
        const i = this.args.indexOf(e.name);
        if (i < 0) throw new NotRendered(`run-time argument ${e.name} is not in the plan`);
        l = this.code.local(F32);
        f.get(this.argp).f32Load(4 * i).set(l);
        break;
      }
      case 'load': {
        const at = coefMap(e.at);
        const a = this.offset(at, e.at.offset, e.buf, here, t);
        l = this.code.local(vec ? V128 : F32);
        const vs = vec ? here.find((x) => x.vec && at.has(x.v!))! : null;
        const c = vs ? at.get(vs.v!)! : 1;
        if (!vec) f.f32Load(this.addr(f, a));
        else if (c === 1) f.v128Load(this.addr(f, a), 2);
        else {
          // strided along the vector variable (a transposed operand): gathered lane by lane
          f.v128Load32Splat(this.addr(f, a)).set(l);
          for (let q = 1; q < W; q++) {
            const off = this.addr(f, { p: a.p, add: a.add + 4 * q * c });
            f.get(l).v128Load32Lane(off, q).set(l);
          }
          break;
        }
        f.set(l);
        break;
      }
      case 'unary':
      case 'unaryGrad': {
        const fn = wasmUnary(e.k, e.fn);
        if (!fn) throw new NotRendered(`no wasm rendering of ${e.k === 'unary' ? '' : 'd'}${e.fn}`);
        const a = this.emit(e.a, here);
        const tmp = () => this.code.local(V128);
        if (vec) {
          fn(f, this.asVec(a), tmp);
          l = this.code.local(V128);
        } else {
          const x = tmp();
          f.get(a.l).f32x4Splat().set(x);
          fn(f, x, tmp);
          f.f32x4ExtractLane(0);
          l = this.code.local(F32);
        }
        f.set(l);
        break;
      }
      case 'bin': {
        if (e.op === 'pow') {
          // x ** 2 and x ** 1 only (the general pow has no wasm rendering: such kernels stay JS)
          if (e.b.k === 'const' && e.b.v === 2) return this.emit({ k: 'bin', op: '*', a: e.a, b: e.a }, chain);
          if (e.b.k === 'const' && e.b.v === 1) return this.emit(e.a, chain);
          throw new NotRendered('pow');
        }
        const a = this.emit(e.a, here);
        const b = this.emit(e.b, here);
        if (vec) {
          f.get(this.asVec(a)).get(this.asVec(b));
          BIN_VEC[e.op]!(f);
        } else {
          f.get(a.l).get(b.l);
          BIN_SCALAR[e.op]!(f);
        }
        l = this.code.local(vec ? V128 : F32);
        f.set(l);
        break;
      }
      case 'reduce': {
        const v = this.reduce(e, chain, t);
        s.cse.set(key, v);
        return v;
      }
    }
    s.stmts.push(f.bytes);
    const val: Val = { l, vec, s };
    s.cse.set(key, val);
    return val;
  }

  private reduce(e: KExpr & { k: 'reduce' }, chain: Scope[], t: number): Val {
    const here = chain.slice(0, t + 1);
    const s = chain[t]!;
    const free = freeVars(e);
    // a reduce inside output loops it does not depend on would be recomputed for each of their
    // values (the JS emitter materialises it once into an array): left to the JS kernel
    let allOut = t > 0;
    for (let i = 1; i <= t; i++) if (!chain[i]!.isOut) allOut = false;
    if (allOut) for (let i = 1; i <= t; i++) if (!free.has(chain[i]!.v!)) throw new NotRendered('redundant reduce');
    const isSum = e.op === 'sum';
    const init = isSum ? 0 : -Infinity;
    const vOp = isSum ? (c: Code) => c.f32x4Add() : (c: Code) => c.f32x4Max();
    const sOp = isSum ? (c: Code) => c.f32Add() : (c: Code) => c.f32Max();
    const last = e.vars[e.vars.length - 1];
    const scalarLoop = (v: { v: string; extent: number }) => this.scope(v.v, v.extent, 0, 1, false);
    /** the accumulator's update in the innermost reduce loop, the loop nest placed in s (no loops: in s) */
    const accumulate = (update: Code, loops: Scope[]) => {
      const home = loops[loops.length - 1];
      if (!home) return void s.stmts.push(update.bytes);
      home.stmts.push(update.bytes);
      s.stmts.push(this.renderNest(loops));
    };
    /** code of loops (outer reduce loops around `inner`), placed in s */
    const place = (outer: Scope[], inner: Chunk[]) => {
      if (outer.length === 0) s.stmts.push(...inner);
      else {
        outer[outer.length - 1]!.stmts.push(...inner);
        s.stmts.push(this.renderNest(outer));
      }
    };

    if (this.isVec(e, here)) {
      // the body runs on the chain's vector lanes: one vector accumulator, scalar reduce loops
      const acc = this.code.local(V128);
      s.stmts.push(frag().f32x4Const(init).set(acc).bytes);
      const loops = e.vars.map(scalarLoop);
      const val = this.emit(e.body, here.concat(loops));
      const upd = frag().get(acc).get(this.asVec(val));
      vOp(upd);
      accumulate(upd.set(acc), loops);
      return { l: acc, vec: true, s };
    }

    if (last && last.extent >= W && freeVars(e.body).has(last.v) && contiguousIn(e.body, last.v)) {
      // vectorised along its own innermost variable
      const na = last.extent >= ACCS * W ? ACCS : 1;
      const accs = Array.from({ length: na }, () => this.code.local(V128));
      const sacc = this.code.local(F32);
      for (const a of accs) s.stmts.push(frag().f32x4Const(init).set(a).bytes);
      s.stmts.push(frag().f32(init).set(sacc).bytes);
      const outer = e.vars.slice(0, -1).map(scalarLoop);
      const whole = Math.floor(last.extent / (na * W)) * na * W;
      const whole4 = Math.floor(last.extent / W) * W;
      const loops: Chunk[] = [];
      const vecPass = (from: number, end: number, lanes: number) => {
        const main = this.scope(last.v, end, from, lanes * W, true);
        for (let q = 0; q < lanes; q++) {
          const val = this.emit(e.body, here.concat(outer, [this.laneOf(main, q * W)]));
          const upd = frag().get(accs[q]!).get(this.asVec(val));
          vOp(upd);
          main.stmts.push(upd.set(accs[q]!).bytes);
        }
        loops.push(this.renderLoop(main, main.stmts));
      };
      if (whole > 0) vecPass(0, whole, na);
      if (whole4 > whole) vecPass(whole, whole4, 1);
      if (last.extent > whole4) {
        const tail = this.scope(last.v, last.extent, whole4, 1, false);
        const val = this.emit(e.body, here.concat(outer, [tail]));
        if (val.vec) throw new Error('wasm loops: a vector value in a scalar tail');
        const upd = frag().get(sacc).get(val.l);
        sOp(upd);
        tail.stmts.push(upd.set(sacc).bytes);
        loops.push(this.renderLoop(tail, tail.stmts));
      }
      place(outer, loops);
      // combine: accumulators lane-wise, then the 4 lanes pairwise, then the scalar tail
      const f = frag().get(accs[0]!);
      for (let q = 1; q < na; q++) {
        f.get(accs[q]!);
        vOp(f);
      }
      const v = this.code.local(V128);
      f.set(v);
      f.get(v).f32x4ExtractLane(0).get(v).f32x4ExtractLane(1);
      sOp(f);
      f.get(v).f32x4ExtractLane(2).get(v).f32x4ExtractLane(3);
      sOp(f);
      sOp(f);
      f.get(sacc);
      sOp(f);
      const r = this.code.local(F32);
      s.stmts.push(f.set(r).bytes);
      return { l: r, vec: false, s };
    }

    // scalar
    const acc = this.code.local(F32);
    s.stmts.push(frag().f32(init).set(acc).bytes);
    const loops = e.vars.map(scalarLoop);
    const val = this.emit(e.body, here.concat(loops));
    const upd = frag().get(acc).get(val.l);
    sOp(upd);
    accumulate(upd.set(acc), loops);
    return { l: acc, vec: false, s };
  }

  private bound(f: Code, b: Bound): Code {
    return typeof b === 'number' ? f.i32(b) : f.get(b.l);
  }

  /** counter = from; pointers; while (counter + unroll ≤ end) { body; counter += unroll; pointers += … } */
  renderLoop(s: Scope, body: Chunk[]): Chunk {
    const f = frag();
    this.bound(f, s.from).set(s.counter);
    const g = frag().block();
    this.bound(g.get(s.counter).i32(s.unroll).i32Add(), s.end).i32GtS().brIf(0).loop();
    const h = frag().get(s.counter).i32(s.unroll).i32Add().set(s.counter);
    const k = frag().get(s.counter).i32(s.unroll).i32Add();
    this.bound(k, s.end).i32LeS().brIf(0).end().end();
    return { parts: [f.bytes, ...s.inits, g.bytes, ...body, h.bytes, ...s.steps, k.bytes] };
  }

  /** nested loops over scopes[0..], each with its statements */
  renderNest(scopes: Scope[]): Chunk {
    let inner: Chunk[] = [];
    for (let i = scopes.length - 1; i >= 0; i--) {
      const s = scopes[i]!;
      inner = [this.renderLoop(s, [...s.stmts, ...inner])];
    }
    return inner[0] ?? [];
  }

  /** the function body: buffer pointers from the table, the prelude, the loop nest */
  finish(): Code {
    const c = this.code;
    for (let i = 0; i < this.bufs.length; i++) {
      const l = this.bufLocals.get(this.bufs[i]!);
      if (l !== undefined) c.get(this.tab).i32Load(4 * i).set(l);
    }
    for (const x of this.pre.stmts) flattenInto(x, c.bytes);
    return c;
  }
}

/** The kernel's wasm function (see the header), or why it is not rendered. */
export function renderWasmKernel(k: Kernel, args: readonly string[]): { code: Code; bufs: BufferId[] } | { reason: string } {
  const bufs = canonicalBuffers(k);
  const w = new KernelWriter(args, bufs);
  try {
    const n = k.loops.length;
    const outAt = coefMap(rowMajor(k.loops));
    const store = (chain: Scope[]) => {
      const s = chain[chain.length - 1]!;
      const val = w.emit(k.body, chain);
      const a = w.offset(outAt, 0, k.out, chain, chain.length - 1);
      const f = frag();
      const off = (() => {
        f.get(a.p);
        if (a.add >= 0) return a.add;
        f.i32(a.add).i32Add();
        return 0;
      })();
      if (s.vec) f.get(w.asVec(val)).v128Store(off, 2);
      else {
        if (val.vec) throw new Error('wasm loops: a vector value stored by a scalar loop');
        f.get(val.l).f32Store(off);
      }
      s.stmts.push(f.bytes);
    };
    if (n === 0) store([w.pre]);
    else {
      const outs = k.loops.map((l, i) => {
        const s = w.scope(l.v, i === 0 ? { l: w.hi } : l.extent, i === 0 ? { l: w.lo } : 0, 1, false);
        s.isOut = true;
        return s;
      });
      const lastL = k.loops[n - 1]!;
      const parent = n > 1 ? outs[n - 2]! : w.pre;
      // vector stores along the innermost output variable: loads along it contiguous, broadcast or gathered
      if (lastL.extent >= W) {
        const inner = outs[n - 1]!;
        const main = w.scope(lastL.v, inner.end, inner.from, W, true);
        main.isOut = true;
        const tail = w.scope(lastL.v, inner.end, { l: main.counter }, 1, false);
        tail.isOut = true;
        const head = [w.pre, ...outs.slice(0, n - 1)];
        store([...head, main]);
        store([...head, tail]);
        parent.stmts.push(w.renderLoop(main, main.stmts), w.renderLoop(tail, tail.stmts));
      } else {
        store([w.pre, ...outs]);
        parent.stmts.push(w.renderLoop(outs[n - 1]!, outs[n - 1]!.stmts));
      }
      if (n > 1) w.pre.stmts.push(w.renderNest(outs.slice(0, n - 1)));
    }
    return { code: w.finish(), bufs };
  } catch (e) {
    if (e instanceof NotRendered) return { reason: e.message };
    throw e;
  }
}

/** the buffers of k in the order of first appearance (body in preorder, then the output): the table order */
export function canonicalBuffers(k: Kernel): BufferId[] {
  const seen: BufferId[] = [];
  loadsInOrder(k.body, seen);
  if (!seen.includes(k.out)) seen.push(k.out);
  return seen;
}

// (not a closure per call: under tsx every named closure is an Object.defineProperty — esbuild's keepNames)
function loadsInOrder(e: KExpr, seen: BufferId[]): void {
  if (e.k === 'load') {
    if (!seen.includes(e.buf)) seen.push(e.buf);
  } else if (e.k === 'unary' || e.k === 'unaryGrad') loadsInOrder(e.a, seen);
  else if (e.k === 'bin') {
    loadsInOrder(e.a, seen);
    loadsInOrder(e.b, seen);
  } else if (e.k === 'reduce') loadsInOrder(e.body, seen);
}
