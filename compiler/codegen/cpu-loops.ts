// Kernel → JavaScript source: literal loop bounds, induction pointers for every affine load
// (strength-reduced: each loop adds a constant to the pointers that depend on its variable, no
// multiplications in any loop body) and loop-invariant code motion: every subexpression, reduce
// included, is computed in the outermost loop that binds one of its free variables, once, and
// reused (structural CSE per loop). That is what makes softmax O(n) per row: the max and the sum
// are reduces over k that do not depend on the output column j, so they sit outside the j loop.
// Beyond that (each measured, see the comments where they are done): sum reduces are unrolled ×4
// into separate accumulators; reduces that only depend on inner output variables, or that walk a
// column, are materialised once per kernel call into a Float64Array (interchanged for columns);
// relu is branch-free.
//
// Generated functions have the signature (B, args, S): B[id] is the Float32Array of buffer id,
// S[-id-1] the scratch array of a negative id (packed GEMM operands, GEMM result), args the
// run-time scalars. All arithmetic is in doubles; only stores round to float32.
import * as T from '../../runtime/tensor/index.ts';
import type { Affine, BufferId, Kernel, KExpr } from '../fuse/kernel-ir.ts';

export type KernelFn = (B: readonly Float32Array[], args: Readonly<Record<string, number>>, S: readonly Float32Array[]) => void;
export type ScalarFn = (B: readonly Float32Array[], args: Readonly<Record<string, number>>, S: readonly Float32Array[]) => number;

// ---- structural helpers (shared with the GEMM matcher) ----

const freeCache = new WeakMap<KExpr, Set<string>>();
/** Variables an expression depends on (a reduce binds its own). */
export function freeVars(e: KExpr): Set<string> {
  let s = freeCache.get(e);
  if (s) return s;
  s = new Set<string>();
  switch (e.k) {
    case 'load':
      for (const t of e.at.terms) if (t.c !== 0) s.add(t.v);
      break;
    case 'unary':
    case 'unaryGrad':
      for (const v of freeVars(e.a)) s.add(v);
      break;
    case 'bin':
      for (const v of freeVars(e.a)) s.add(v);
      for (const v of freeVars(e.b)) s.add(v);
      break;
    case 'reduce': {
      const bound = new Set(e.vars.map((v) => v.v));
      for (const v of freeVars(e.body)) if (!bound.has(v)) s.add(v);
      break;
    }
  }
  freeCache.set(e, s);
  return s;
}

/** Σ c per variable (duplicates combined, zeros dropped), as a map. */
export function coefMap(at: Affine): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of at.terms) m.set(t.v, (m.get(t.v) ?? 0) + t.c);
  for (const [v, c] of m) if (c === 0) m.delete(v);
  return m;
}

const keyCache = new WeakMap<KExpr, string>();
/** Structural key: equal keys ⇔ equal expressions (under the same variable bindings). */
export function exprKey(e: KExpr): string {
  let k = keyCache.get(e);
  if (k !== undefined) return k;
  switch (e.k) {
    case 'load': {
      const m = [...coefMap(e.at)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      k = `L${e.buf}[${m.map(([v, c]) => `${c}*${JSON.stringify(v)}`).join('+')}+${e.at.offset}]`;
      break;
    }
    case 'const':
      k = `C${Object.is(e.v, -0) ? '-0' : String(e.v)}`;
      break;
    case 'arg':
      k = `A${JSON.stringify(e.name)}`;
      break;
    case 'unary':
    case 'unaryGrad':
      k = `${e.k === 'unary' ? 'U' : 'G'}${e.fn}(${exprKey(e.a)})`;
      break;
    case 'bin':
      k = `B${e.op}(${exprKey(e.a)},${exprKey(e.b)})`;
      break;
    case 'reduce':
      k = `R${e.op}[${e.vars.map((v) => `${JSON.stringify(v.v)}<${v.extent}`).join(',')}](${exprKey(e.body)})`;
      break;
  }
  keyCache.set(e, k);
  return k;
}

export function num(v: number): string {
  if (Object.is(v, -0)) return '(-0)';
  if (Number.isNaN(v)) return 'NaN';
  return v < 0 ? `(${String(v)})` : String(v);
}

/** Row-major affine of an output with these loops. */
export function rowMajor(loops: readonly { v: string; extent: number }[], offset = 0): Affine {
  const terms: { v: string; c: number }[] = [];
  let s = 1;
  for (let i = loops.length - 1; i >= 0; i--) {
    terms.unshift({ v: loops[i]!.v, c: s });
    s *= loops[i]!.extent;
  }
  return { terms, offset };
}

// ---- the emitter ----

interface Scope {
  /** the IR variable this loop binds (null: the function prelude) */
  v: string | null;
  /** JS name of the loop counter */
  id: string;
  /** the counter runs from, from + unroll, … while < end */
  from: number;
  end: number;
  unroll: number;
  /** in an unrolled loop: which copy of the body this view emits (0 … unroll − 1) */
  lane: number;
  stmts: string[];
  inits: string[];
  steps: string[];
  /** an output loop of the kernel (not a reduce loop) */
  isOut: boolean;
  /** induction pointers: affine key → name, and name → step per counter increment of 1 */
  ptrs: Map<string, string>;
  ptrStep: Map<string, number>;
  cse: Map<string, string>;
}

/** accumulators of an unrolled sum (latency-bound otherwise: 1.44 → 0.64 ms for 1024 rows × 768) */
const UNROLL = 4;

const INLINE_UNARY: Partial<Record<T.UnaryName, (a: string) => string>> = {
  neg: (a) => `-${a}`,
  exp: (a) => `Math.exp(${a})`,
  log: (a) => `Math.log(${a})`,
  sqrt: (a) => `Math.sqrt(${a})`,
  rsqrt: (a) => `1 / Math.sqrt(${a})`,
  relu: (a) => `relu_(${a})`,
  tanh: (a) => `Math.tanh(${a})`,
  abs: (a) => `Math.abs(${a})`,
  square: (a) => `${a} * ${a}`,
  sin: (a) => `Math.sin(${a})`,
  cos: (a) => `Math.cos(${a})`,
  recip: (a) => `1 / ${a}`,
};
const INLINE_GRAD: Partial<Record<T.UnaryName, (a: string) => string>> = {
  neg: () => `-1`,
  exp: (a) => `Math.exp(${a})`,
  log: (a) => `1 / ${a}`,
  relu: (a) => `+(${a} > 0)`,
  square: (a) => `2 * ${a}`,
  recip: (a) => `-1 / (${a} * ${a})`,
};

/**
 * Helpers defined in the generated factory. relu is branch-free: `x > 0 ? x : 0` mispredicts on
 * real activations (random signs) and measured 8.7 ms vs 3.6 ms on 1024×768 (bias + relu); the
 * select becomes (x > 0)·x (+0 turns −0 into 0), and the NaN that gives for x = −∞ or NaN is mapped
 * to 0 like the reference (a predictable branch).
 */
const LOCAL_HELPERS: Record<string, string> = {
  relu_: '(x) => { const v = (x > 0) * x + 0; return v === v ? v : 0; }',
};

const BIN_JS: Record<string, (a: string, b: string) => string> = {
  '+': (a, b) => `${a} + ${b}`,
  '-': (a, b) => `${a} - ${b}`,
  '*': (a, b) => `${a} * ${b}`,
  '/': (a, b) => `${a} / ${b}`,
  pow: (a, b) => `${a} ** ${b}`,
  max: (a, b) => `Math.max(${a}, ${b})`,
};

class Emitter {
  private n = 0;
  readonly bufs = new Map<BufferId, string>();
  readonly helpers = new Map<string, string>(); // JS name -> 'f:gelu' / 'df:gelu'
  /** arrays allocated once in the factory: name -> Float64Array length (materialised reduces) */
  readonly caches = new Map<string, number>();
  readonly pre: Scope = this.scope(null, 1);

  fresh(p: string): string {
    return `${p}${this.n++}`;
  }

  scope(v: string | null, end: number, from = 0, unroll = 1): Scope {
    return {
      v,
      id: v === null ? '' : this.fresh('i'),
      from,
      end,
      unroll,
      lane: 0,
      isOut: false,
      stmts: [],
      inits: [],
      steps: [],
      ptrs: new Map(),
      ptrStep: new Map(),
      cse: new Map(),
    };
  }

  /** a view of an unrolled loop that emits body copy `lane` (shares statements and pointers) */
  laneOf(s: Scope, lane: number): Scope {
    return { ...s, lane, cse: new Map() };
  }

  buf(id: BufferId): string {
    let name = this.bufs.get(id);
    if (!name) {
      name = id >= 0 ? `b${id}` : `s${-id - 1}`;
      this.bufs.set(id, name);
    }
    return name;
  }

  private bindIndex(chain: Scope[], v: string): number {
    for (let i = chain.length - 1; i > 0; i--) if (chain[i]!.v === v) return i;
    throw new Error(`cpu codegen: variable ${v} is not bound by any loop or reduce`);
  }

  private target(chain: Scope[], vars: Iterable<string>): number {
    let t = 0;
    for (const v of vars) t = Math.max(t, this.bindIndex(chain, v));
    return t;
  }

  /**
   * The flat offset of `at` with the variables bound at chain[0..level] substituted and the
   * others at 0: a literal, or an induction pointer kept in the loop header of chain[level].
   */
  offset(at: Map<string, number>, base: number, chain: Scope[], level: number): string {
    let deepest = 0;
    for (const v of at.keys()) {
      const b = this.bindIndex(chain, v);
      if (b <= level) deepest = Math.max(deepest, b);
    }
    if (deepest === 0) return String(base);
    const s = chain[deepest]!;
    const parts: string[] = [];
    let step = 0;
    for (const [v, c] of at) {
      const b = this.bindIndex(chain, v);
      if (b <= deepest) parts.push(`${b}:${c}`);
      if (b === deepest) step += c;
    }
    const key = `${parts.sort().join(',')}+${base}`;
    let p = s.ptrs.get(key);
    if (!p) {
      const start = this.offset(at, base, chain, deepest - 1);
      p = this.fresh('p');
      s.inits.push(`${p} = ${s.from * step === 0 ? start : `${start} + ${s.from * step}`}`);
      if (step !== 0) s.steps.push(`${p} += ${s.unroll * step}`);
      s.ptrs.set(key, p);
      s.ptrStep.set(p, step);
    }
    const d = s.lane * s.ptrStep.get(p)!;
    return d === 0 ? p : `${p} + ${d}`;
  }

  /** Emit e for evaluation in the innermost scope of chain; returns an atom (name or literal). */
  emit(e: KExpr, chain: Scope[]): string {
    if (e.k === 'const') return num(e.v);
    const t = this.target(chain, freeVars(e));
    const s = chain[t]!;
    const key = exprKey(e);
    const hit = s.cse.get(key);
    if (hit) return hit;
    const here = chain.slice(0, t + 1);
    let name: string;
    switch (e.k) {
      case 'arg':
        name = this.fresh('a');
        this.pre.stmts.push(`const ${name} = args[${JSON.stringify(e.name)}];`);
        break;
      case 'load': {
        const at = coefMap(e.at);
        const p = this.offset(at, e.at.offset, here, t);
        name = this.fresh('t');
        s.stmts.push(`const ${name} = ${this.buf(e.buf)}[${p}];`);
        break;
      }
      case 'unary':
      case 'unaryGrad': {
        const a = this.emit(e.a, here);
        const inl = (e.k === 'unary' ? INLINE_UNARY : INLINE_GRAD)[e.fn];
        let code: string;
        if (inl) {
          code = inl(a);
          for (const h of Object.keys(LOCAL_HELPERS)) if (code.includes(`${h}(`)) this.helpers.set(h, `src:${h}`);
        }
        else {
          const h = `${e.k === 'unary' ? 'f' : 'df'}_${e.fn}`;
          this.helpers.set(h, `${e.k === 'unary' ? 'f' : 'df'}:${e.fn}`);
          code = `${h}(${a})`;
        }
        name = this.fresh('t');
        s.stmts.push(`const ${name} = ${code};`);
        break;
      }
      case 'bin': {
        const a = this.emit(e.a, here);
        const b = this.emit(e.b, here);
        name = this.fresh('t');
        s.stmts.push(`const ${name} = ${BIN_JS[e.op]!(a, b)};`);
        break;
      }
      case 'reduce': {
        const cached = this.materialize(e, chain, t);
        if (cached) {
          name = cached;
          break;
        }
        name = this.fresh('r');
        const upd = (acc: string, val: string) => (e.op === 'sum' ? `${acc} += ${val};` : `${acc} = Math.max(${acc}, ${val});`);
        const last = e.vars[e.vars.length - 1];
        const unroll = e.op === 'sum' && last !== undefined && last.extent >= 2 * UNROLL && freeVars(e.body).has(last.v);
        if (!unroll) {
          s.stmts.push(`let ${name} = ${e.op === 'sum' ? '0' : '-Infinity'};`);
          const loops = e.vars.map((v) => this.scope(v.v, v.extent));
          const val = this.emit(e.body, here.concat(loops));
          if (loops.length === 0) s.stmts.push(upd(name, val));
          else {
            loops[loops.length - 1]!.stmts.push(upd(name, val));
            s.stmts.push(renderNest(loops, ''));
          }
          break;
        }
        // innermost variable unrolled UNROLL times into as many accumulators, then a tail loop
        const accs = Array.from({ length: UNROLL }, (_, i) => (i === 0 ? name : `${name}_${i}`));
        s.stmts.push(`let ${accs.map((a) => `${a} = 0`).join(', ')};`);
        const outer = e.vars.slice(0, -1).map((v) => this.scope(v.v, v.extent));
        const whole = Math.floor(last!.extent / UNROLL) * UNROLL;
        const main = this.scope(last!.v, whole, 0, UNROLL);
        for (let lane = 0; lane < UNROLL; lane++) {
          const val = this.emit(e.body, here.concat(outer, [this.laneOf(main, lane)]));
          main.stmts.push(upd(accs[lane]!, val));
        }
        const loopsCode = [renderLoop(main, main.stmts.join('\n'))];
        if (whole < last!.extent) {
          const tail = this.scope(last!.v, last!.extent, whole, 1);
          const val = this.emit(e.body, here.concat(outer, [tail]));
          tail.stmts.push(upd(name, val));
          loopsCode.push(renderLoop(tail, tail.stmts.join('\n')));
        }
        if (outer.length === 0) s.stmts.push(...loopsCode);
        else {
          outer[outer.length - 1]!.stmts.push(...loopsCode);
          s.stmts.push(renderNest(outer, ''));
        }
        s.stmts.push(`${name} = (${accs[0]} + ${accs[1]}) + (${accs[2]} + ${accs[3]});`);
        break;
      }
    }
    s.cse.set(key, name);
    return name;
  }

  /** Function source: the prelude binds buffers, helpers and args, then `body`. */
  finish(body: string): string {
    const head: string[] = [];
    for (const [id, name] of this.bufs) head.push(`const ${name} = ${id >= 0 ? `B[${id}]` : `S[${-id - 1}]`};`);
    return `${head.join('\n')}\n${this.pre.stmts.join('\n')}\n${body}`;
  }

  /**
   * Reduces computed ahead of the loop nest into a Float64Array allocated with the kernel (indexed
   * by the reduce's free output variables) and loaded where used:
   *  - a reduce that depends on only some output variables, placed inside an output loop it does
   *    not depend on (a column norm broadcast along rows when columns are the inner loop, e.g.
   *    DoRA's norms over a [1024, 768] output: 1.24 s → 5 ms), is computed once per value;
   *  - a reduce whose innermost variable is strided in every load while its innermost output
   *    variable is contiguous in one (column sums, bias gradients, column norms) is interchanged:
   *    cache.fill(0); for r…: for j: cache[j] += body — rows streamed, no dependency chain
   *    (1024×768 column sum 1.8 ms → ~0.9 ms).
   */
  private materialize(e: KExpr & { k: 'reduce' }, chain: Scope[], t: number): string | null {
    const free = freeVars(e);
    if (t === 0) return null;
    for (let i = 1; i <= t; i++) if (!chain[i]!.isOut) return null;
    let redundant = 1;
    for (let i = 1; i <= t; i++) if (!free.has(chain[i]!.v!)) redundant *= chain[i]!.end;
    const vars = chain.slice(1, t + 1).filter((s) => free.has(s.v!));
    const lastRed = [...e.vars].reverse().find((v) => v.extent > 1);
    const fLast = vars[vars.length - 1]!;
    let interchange = false;
    if (lastRed && fLast.end >= 4) {
      let rContig = false, fContig = false;
      const visit = (x: KExpr): void => {
        if (x.k === 'load') {
          const m = coefMap(x.at);
          if (Math.abs(m.get(lastRed.v) ?? 0) === 1) rContig = true;
          if (Math.abs(m.get(fLast.v!) ?? 0) === 1) fContig = true;
        } else if (x.k === 'unary' || x.k === 'unaryGrad') visit(x.a);
        else if (x.k === 'bin') {
          visit(x.a);
          visit(x.b);
        } else if (x.k === 'reduce') visit(x.body);
      };
      visit(e.body);
      interchange = fContig && !rContig && !e.vars.some((v) => free.has(v.v) || vars.some((s) => s.v === v.v));
    }
    if (redundant <= 1 && !interchange) return null;
    const pre = this.pre;
    const cacheKey = `M${exprKey(e)}`;
    let arr = pre.cse.get(cacheKey);
    const atF = coefMap(rowMajor(vars.map((s) => ({ v: s.v!, extent: s.end }))));
    if (!arr) {
      arr = this.fresh('m');
      this.caches.set(arr, vars.reduce((p, s) => p * s.end, 1));
      const outScope = (s: Scope) => {
        const f = this.scope(s.v, s.end);
        f.isOut = true;
        return f;
      };
      if (!interchange) {
        const fill = vars.map(outScope);
        const fchain = [pre, ...fill];
        const val = this.emit(e, fchain);
        const q = this.offset(atF, 0, fchain, fchain.length - 1);
        pre.stmts.push(renderNest(fill, `${arr}[${q}] = ${val};`));
      } else {
        const outer = vars.slice(0, -1).map(outScope);
        const inner = outScope(fLast);
        const reds = e.vars.map((v) => this.scope(v.v, v.extent));
        const home = outer[outer.length - 1] ?? pre;
        const atOuter = new Map(atF);
        atOuter.delete(fLast.v!);
        const q0 = this.offset(atOuter, 0, [pre, ...outer], outer.length);
        home.stmts.push(`${arr}.fill(${e.op === 'sum' ? 0 : '-Infinity'}, ${q0}, ${q0} + ${fLast.end});`);
        const fchain = [pre, ...outer, ...reds, inner];
        const val = this.emit(e.body, fchain);
        const q = this.offset(atF, 0, fchain, fchain.length - 1);
        inner.stmts.push(e.op === 'sum' ? `${arr}[${q}] += ${val};` : `${arr}[${q}] = Math.max(${arr}[${q}], ${val});`);
        home.stmts.push(renderNest([...reds, inner], ''));
        if (outer.length) pre.stmts.push(renderNest(outer, ''));
      }
      pre.cse.set(cacheKey, arr);
    }
    const q = this.offset(atF, 0, chain.slice(0, t + 1), t);
    const name = this.fresh('t');
    chain[t]!.stmts.push(`const ${name} = ${arr}[${q}];`);
    return name;
  }

  factory(fnSrc: string): string {
    const cs = [...this.caches].map(([name, n]) => `const ${name} = new Float64Array(${n});`);
    const hs = [...this.helpers].map(([h, spec]) => {
      const [kind, fn] = spec.split(':') as ['f' | 'df' | 'src', string];
      if (kind === 'src') return `const ${h} = ${LOCAL_HELPERS[fn]};`;
      return `const ${h} = U[${JSON.stringify(fn)}].${kind};`;
    });
    return `"use strict";\n${[...cs, ...hs].join('\n')}\nreturn ${fnSrc};`;
  }
}

function renderLoop(s: Scope, body: string): string {
  const inits = s.inits.map((x) => `, ${x}`).join('');
  const steps = s.steps.map((x) => `, ${x}`).join('');
  const inc = s.unroll === 1 ? `${s.id}++` : `${s.id} += ${s.unroll}`;
  return `for (let ${s.id} = ${s.from}${inits}; ${s.id} < ${s.end}; ${inc}${steps}) {\n${body}\n}`;
}

/** Nested loops over scopes[0..], each with its statements, `innermost` appended to the last. */
function renderNest(scopes: Scope[], innermost: string): string {
  let inner = innermost;
  for (let i = scopes.length - 1; i >= 0; i--) {
    const s = scopes[i]!;
    inner = renderLoop(s, [...s.stmts, inner].filter((x) => x).join('\n'));
  }
  return inner;
}

/** a JS function name from a kernel name (prefixed: a kernel named `delete` must still parse) */
function sanitize(name: string): string {
  return `kernel_${name.replace(/[^A-Za-z0-9_$]/g, '_')}`;
}

/** JS source of a function (B, args, S) computing kernel k with generated loops. */
export function renderKernelSource(k: Kernel): string {
  const em = new Emitter();
  const loops = k.loops.map((l) => {
    const s = em.scope(l.v, l.extent);
    s.isOut = true;
    return s;
  });
  const chain = [em.pre, ...loops];
  const val = em.emit(k.body, chain);
  const out = em.buf(k.out);
  const at = coefMap(rowMajor(k.loops));
  const p = em.offset(at, 0, chain, chain.length - 1);
  const store = `${out}[${p}] = ${val};`;
  let body: string;
  if (loops.length === 0) body = store;
  else body = renderNest(loops, store);
  const fn = `function ${sanitize(k.name)}(B, args, S) {\n${em.finish(body)}\n}`;
  return em.factory(fn);
}

/** JS source of a function (B, args, S) returning the value of a variable-free expression. */
export function renderScalarSource(e: KExpr, name = 'scalar'): string {
  const em = new Emitter();
  const val = em.emit(e, [em.pre]);
  const fn = `function ${sanitize(name)}(B, args, S) {\n${em.finish(`return ${val};`)}\n}`;
  return em.factory(fn);
}

function instantiate<F>(src: string): F {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('U', src)(T.unary) as F;
}

export function compileLoops(k: Kernel): { fn: KernelFn; source: string } {
  const source = renderKernelSource(k);
  return { fn: instantiate<KernelFn>(source), source };
}

export function compileScalar(e: KExpr, name?: string): { fn: ScalarFn; source: string } {
  const source = renderScalarSource(e, name);
  return { fn: instantiate<ScalarFn>(source), source };
}
