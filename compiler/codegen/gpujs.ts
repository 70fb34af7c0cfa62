// The gpu.js renderer: one kernel of the kernel IR (compiler/fuse/kernel-ir.ts) to the source of a
// gpu.js kernel, used unchanged by every gpu.js mode (cpu, webasm, webgpu, headlessgl, webgl2).
//
// Shape of the generated function (every size is a literal; nothing is read from an argument):
//
//   function(b0, b2, b3, u0_scale) {                 // buffers by id, then run-time args
//     const n0 = this.thread.x;                        // output coordinates from the thread index
//     const n1 = this.thread.y;
//     let r2 = 0;                                      // a `reduce`, in the scope binding its vars
//     for (let v3 = 0; v3 < 1500; v3++) {
//       r2 += (b0[(n1|0) * 1500 + (v3|0)] * b2[(v3|0) * 40 + (n0|0)]);
//     }
//     const t4 = (r2 + b3[(n0|0)]);                    // an operand a unary formula uses twice
//     return ((t4 > 0 ? t4 : 0) * u0_scale);
//   }
//
// Design, and the gpu.js traps it is shaped by (gpu.js 2.24.1, see /work/shared/ENVIRONMENT.md):
//  - Output addressing. 0 loops: [1]. 1 loop: [n] (thread.x). 2+ loops: [w, h] with x = the innermost
//    loop and y = the other loops flattened — so the common rank-2 case needs no division at all and
//    input indexing of the inner axis stays contiguous. When a side would exceed `max2D` (16384, the
//    portable GL texture limit; WebGPU's 8x8 workgroups allow 524,280) the output falls back to 1-D.
//  - A flattened group of loops is split back into loop variables with an f32 quotient estimate
//    `Math.floor((n + 0.5) / e)` corrected by ±1 from the integer remainder. gpu.js computes `/` in
//    f32 on webasm and webgpu (WGSL's f32 division may be off by 2.5 ulp), so the estimate can be
//    off by one and the correction makes the result exact for every thread index < 2^24; outputs
//    with more elements are rejected.
//  - webasm declares every local initialised from an integer expression as f32 ("int-typed
//    initializers decay to float declarations") and its loop counters are f32, so loop variables
//    are exact integers below 2^24 but products of them are not. Each variable use inside a load
//    offset is therefore written `(v|0)`, which gpu.js types Integer (i32 on webasm and webgpu):
//    flat offsets are exact up to 2^31.
//  - Loops: `for (let v = 0; v < <literal>; v++)` only. A bound read from an argument, a constant
//    expression or a `while` is silently capped at loopMaxIterations (1000) in every mode.
//  - The source starts with exactly `function` (no whitespace before it, no arrow function).
//  - `reduce` nodes are loop-invariant-hoisted and shared: each is emitted in the innermost scope
//    that binds one of its free variables, and an identical reduce in scope is reused. Softmax
//    written as exp(x - max) / Σ exp(x - max) thus computes the max once per row, not once per
//    term of the sum. Operands that a unary formula uses more than once are bound to a local
//    the same way.
//  - Only Math functions available in every mode are used (exp, log, sqrt, tanh, pow, abs, floor,
//    sign, sin, cos, two-argument max/min). tanh and exp arguments are clamped where WGSL leaves
//    overflow undefined (clamped where the result is exactly ±1 / 0 in f64 too, since the cpu mode
//    computes in f64); erf (for gelu_erf) is Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7).
//  - Constants: gpu.js rejects NaN literals and maps `Infinity` to the f32 maximum on webgpu, so
//    ±Infinity are written as ±3.4028234663852886e38 and a `max` reduction starts there.
//
// Here: expressions, output addressing and the entry point. Unary formulas and literals are in
// gpujs-unary.ts, scopes and the per-kernel context (parameters, bounds checks) in gpujs-scope.ts.
import type { Affine, BufferId, Kernel, KernelPlan, KExpr } from '../fuse/kernel-ir.ts';
import { Ctx, Scope } from './gpujs-scope.ts';
import { F32_MAX, GPUJS_UNARY, type GpuJsUnary, lit } from './gpujs-unary.ts';

export { GPUJS_MAX_OFFSET } from './gpujs-scope.ts';
export { GPUJS_UNARY, type GpuJsUnary, lit } from './gpujs-unary.ts';

/** What one parameter of a rendered kernel carries. */
export type GpuJsParam = { kind: 'buffer'; buf: BufferId } | { kind: 'arg'; name: string };

export interface RenderedGpuJsKernel {
  /** gpu.js kernel source; begins with exactly `function`. */
  source: string;
  /** the JS parameter names of `source`, in order */
  argNames: string[];
  /** what each parameter is: a flat float32 buffer of the plan, or a scalar run-time argument */
  params: GpuJsParam[];
  /** gpu.js `output`: [w] or [w, h]; the result, read row by row, is the kernel's row-major output */
  output: number[];
}

export interface RenderOptions {
  /** largest side of a 2-D output before falling back to 1-D (default 16384, the usual GL texture limit) */
  max2D?: number;
}

/** Thread indices (and so output sizes) beyond this cannot be split into loop variables exactly. */
export const GPUJS_MAX_THREADS = 2 ** 24;

/** Free IR variables of an expression (those not bound by a reduce inside it). */
function freeVars(e: KExpr, out = new Set<string>(), bound: ReadonlySet<string> = new Set()): Set<string> {
  return KINDS[e.k].free(e as never, out, bound);
}

/** The scope to emit a binding of `e` in: the innermost one (from `s` outwards) binding a free var of e. */
function homeScope(e: KExpr, s: Scope): Scope {
  let best: Scope | null = null;
  for (const v of freeVars(e)) {
    const { scope } = s.resolve(v);
    if (!best || scope.depth() > best.depth()) best = scope;
  }
  if (best) return best;
  let root = s;
  while (root.parent) root = root.parent;
  return root;
}

function render(e: KExpr, cx: Ctx, s: Scope): string {
  return KINDS[e.k].render(e as never, cx, s);
}

function keyOf(e: KExpr, s: Scope): string {
  return KINDS[e.k].key(e as never, s);
}

/** Render e as an identifier or literal, binding it to a hoisted, shared local when it is anything else. */
function atom(e: KExpr, cx: Ctx, s: Scope): string {
  if (e.k === 'const' || e.k === 'arg') return render(e, cx, s);
  const key = keyOf(e, s);
  const hit = s.lookup(key);
  if (hit) return hit;
  const home = homeScope(e, s);
  const src = render(e, cx, home);
  const name = IDENT.test(src) ? src : bindText(src, cx, home);
  home.memo.set(key, name);
  return name;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** Bind JS source text (over names visible in `home`) to a local there, sharing an identical one in scope. */
function bindText(src: string, cx: Ctx, home: Scope): string {
  if (IDENT.test(src)) return src;
  const key = `X:${src}`;
  const hit = home.lookup(key);
  if (hit) return hit;
  const name = cx.fresh('t');
  home.lines.push(`${home.indent}const ${name} = ${src};`);
  home.memo.set(key, name);
  return name;
}

/** A unary formula over its operand, with repeated subexpressions bound next to the operand. */
function unarySrc(form: GpuJsUnary['f'], a: KExpr, cx: Ctx, s: Scope): string {
  const x = atom(a, cx, s);
  const home = homeScope(a, s);
  return form(x, (expr) => bindText(expr, cx, home));
}

/** Smallest and largest value of an affine offset over its variables' ranges. */
function offsetRange(at: Affine, s: Scope): [number, number] {
  let lo = at.offset;
  let hi = at.offset;
  for (const t of at.terms) {
    const span = t.c * (s.resolve(t.v).extent - 1);
    if (span > 0) hi += span;
    else lo += span;
  }
  return [lo, hi];
}

function affineSrc(at: Affine, s: Scope): string {
  const parts: string[] = [];
  for (const t of at.terms) {
    if (t.c === 0) continue;
    if (!Number.isInteger(t.c)) throw new Error(`gpu.js renderer: non-integer offset coefficient ${t.c}`);
    const v = `(${s.resolve(t.v).js}|0)`;
    const mag = Math.abs(t.c);
    const term = mag === 1 ? v : `${v} * ${mag}`;
    parts.push(parts.length === 0 ? (t.c < 0 ? `-${term}` : term) : `${t.c < 0 ? ' - ' : ' + '}${term}`);
  }
  if (!Number.isInteger(at.offset)) throw new Error(`gpu.js renderer: non-integer offset ${at.offset}`);
  if (parts.length === 0) return String(Math.max(0, at.offset));
  if (at.offset !== 0) parts.push(`${at.offset < 0 ? ' - ' : ' + '}${Math.abs(at.offset)}`);
  return parts.join('');
}

/** Integer power by repeated multiplication (x is an atom); negative n via a reciprocal. */
function intPow(x: string, n: number): string {
  if (n === 0) return '1';
  const m = Math.abs(n);
  const prod = Array.from({ length: m }, () => x).join(' * ');
  return n < 0 ? `(1 / (${prod}))` : `(${prod})`;
}

/** a ** b as JS does it, for a possibly negative base (WGSL's pow is NaN there even for integer b). */
function powSrc(a: KExpr, b: KExpr, cx: Ctx, s: Scope): string {
  if (b.k === 'const') {
    if (Number.isInteger(b.v) && Math.abs(b.v) <= 4) return intPow(atom(a, cx, s), b.v);
    if (b.v === 0.5) return `Math.sqrt(${render(a, cx, s)})`;
    if (b.v === -0.5) return `(1 / Math.sqrt(${render(a, cx, s)}))`;
    const x = atom(a, cx, s);
    if (Number.isInteger(b.v)) {
      const odd = Math.abs(b.v) % 2 === 1;
      return odd ? `(${x} < 0 ? -Math.pow(-${x}, ${lit(b.v)}) : Math.pow(${x}, ${lit(b.v)}))` : `Math.pow(Math.abs(${x}), ${lit(b.v)})`;
    }
    return `Math.pow(${x}, ${lit(b.v)})`; // NaN for a negative base, as in JS
  }
  const x = atom(a, cx, s);
  const y = atom(b, cx, s);
  // negative base: |x|^y, negated for odd integer y; a non-integer y leaves pow(x, y) = NaN as in JS
  return (
    `(${x} < 0 && Math.floor(${y}) == ${y} ? ` +
    `(Math.floor(${y} * 0.5) * 2 == ${y} ? 1 : -1) * Math.pow(-${x}, ${y}) : Math.pow(${x}, ${y}))`
  );
}

const BIN: Record<Extract<KExpr, { k: 'bin' }>['op'], (a: KExpr, b: KExpr, cx: Ctx, s: Scope) => string> = {
  '+': (a, b, cx, s) => `(${render(a, cx, s)} + ${render(b, cx, s)})`,
  '-': (a, b, cx, s) => `(${render(a, cx, s)} - ${render(b, cx, s)})`,
  '*': (a, b, cx, s) => `(${render(a, cx, s)} * ${render(b, cx, s)})`,
  '/': (a, b, cx, s) => `(${render(a, cx, s)} / ${render(b, cx, s)})`,
  max: (a, b, cx, s) => `Math.max(${render(a, cx, s)}, ${render(b, cx, s)})`,
  pow: powSrc,
};

type Reduce = Extract<KExpr, { k: 'reduce' }>;

/** Emit a reduce as literal-bound loops into its home scope; returns the accumulator's name. */
function reduceSrc(e: Reduce, cx: Ctx, s: Scope): string {
  const key = keyOf(e, s);
  const hit = s.lookup(key);
  if (hit) return hit;
  const home = homeScope(e, s);
  const acc = cx.fresh('r');
  home.lines.push(`${home.indent}let ${acc} = ${e.op === 'sum' ? '0' : `(-${F32_MAX})`};`);
  // one scope for the whole loop nest: its statements go inside the innermost loop
  let indent = home.indent;
  const heads: string[] = [];
  const inner = new Scope(home, '');
  for (const { v, extent } of e.vars) {
    if (!Number.isInteger(extent) || extent < 0) throw new Error(`gpu.js renderer: bad reduce extent ${extent}`);
    const js = cx.fresh('v');
    inner.vars.set(v, { js, extent });
    heads.push(`${indent}for (let ${js} = 0; ${js} < ${extent}; ${js}++) {`);
    indent += '  ';
  }
  inner.indent = indent;
  const body = render(e.body, cx, inner);
  home.lines.push(...heads, ...inner.lines);
  home.lines.push(e.op === 'sum' ? `${indent}${acc} += ${body};` : `${indent}${acc} = Math.max(${acc}, ${body});`);
  for (let i = e.vars.length - 1; i >= 0; i--) home.lines.push(`${home.indent}${'  '.repeat(i)}}`);
  home.memo.set(key, acc);
  return acc;
}

// ---------------------------------------------------------------------------------------------
// The per-kind table: how each KExpr kind renders, keys itself for sharing, and reports free vars.

interface KindRecord<E extends KExpr> {
  render(e: E, cx: Ctx, s: Scope): string;
  /** structural key with variables resolved to their JS bindings (so shadowing cannot alias) */
  key(e: E, s: Scope): string;
  free(e: E, out: Set<string>, bound: ReadonlySet<string>): Set<string>;
}

type KindTable = { [K in KExpr['k']]: KindRecord<Extract<KExpr, { k: K }>> };

const KINDS: KindTable = {
  load: {
    render: (e, cx, s) => `${cx.buf(e.buf, offsetRange(e.at, s))}[${affineSrc(e.at, s)}]`,
    key: (e, s) => `L${e.buf}[${e.at.terms.map((t) => `${t.c}*${s.resolve(t.v).js}`).join('+')}+${e.at.offset}]`,
    free: (e, out, bound) => {
      for (const t of e.at.terms) if (t.c !== 0 && !bound.has(t.v)) out.add(t.v);
      return out;
    },
  },
  const: {
    render: (e) => lit(e.v),
    key: (e) => `C${e.v}`,
    free: (_e, out) => out,
  },
  arg: {
    render: (e, cx) => cx.arg(e.name),
    key: (e) => `A${e.name}`,
    free: (_e, out) => out,
  },
  unary: {
    render: (e, cx, s) => unarySrc(GPUJS_UNARY[e.fn].f, e.a, cx, s),
    key: (e, s) => `U${e.fn}(${keyOf(e.a, s)})`,
    free: (e, out, bound) => freeVars(e.a, out, bound),
  },
  unaryGrad: {
    render: (e, cx, s) => unarySrc(GPUJS_UNARY[e.fn].df, e.a, cx, s),
    key: (e, s) => `G${e.fn}(${keyOf(e.a, s)})`,
    free: (e, out, bound) => freeVars(e.a, out, bound),
  },
  bin: {
    render: (e, cx, s) => BIN[e.op](e.a, e.b, cx, s),
    key: (e, s) => `B${e.op}(${keyOf(e.a, s)},${keyOf(e.b, s)})`,
    free: (e, out, bound) => freeVars(e.b, freeVars(e.a, out, bound), bound),
  },
  reduce: {
    render: reduceSrc,
    key: (e, s) => {
      // the reduce's own variables are keyed by position, the free ones by their binding
      const inner = new Scope(s, '');
      e.vars.forEach(({ v, extent }, i) => inner.vars.set(v, { js: `#${i}`, extent }));
      return `R${e.op}[${e.vars.map((v) => v.extent).join(',')}](${keyOf(e.body, inner)})`;
    },
    free: (e, out, bound) => {
      const b = new Set(bound);
      for (const { v } of e.vars) b.add(v);
      return freeVars(e.body, out, b);
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Output addressing

interface OutputLayout {
  output: number[];
  /** per gpu.js axis (x then y): the thread expression and the kernel loops (outer to inner) it covers */
  axes: { thread: string; loops: number[] }[];
}

function layoutOutput(k: Kernel, max2D: number): OutputLayout {
  const ext = k.loops.map((l) => l.extent);
  for (const e of ext) if (!Number.isInteger(e) || e < 1) throw new Error(`gpu.js renderer: kernel ${k.name}: bad loop extent ${e}`);
  const total = ext.reduce((p, e) => p * e, 1);
  if (total > GPUJS_MAX_THREADS) {
    throw new Error(`gpu.js renderer: kernel ${k.name} has ${total} outputs, over the exact-index limit of 2^24`);
  }
  const all = ext.map((_, i) => i);
  if (ext.length === 0) return { output: [1], axes: [] };
  if (ext.length === 1) return { output: [ext[0]], axes: [{ thread: 'this.thread.x', loops: [0] }] };
  const w = ext[ext.length - 1];
  const h = total / w;
  if (w > max2D || h > max2D) return { output: [total], axes: [{ thread: 'this.thread.x', loops: all }] };
  return {
    output: [w, h],
    axes: [
      { thread: 'this.thread.x', loops: [ext.length - 1] },
      { thread: 'this.thread.y', loops: all.slice(0, -1) },
    ],
  };
}

/** Split thread index `n` over loops (outer to inner) into their variables, exactly (see header). */
function emitSplit(thread: string, loops: number[], k: Kernel, cx: Ctx, root: Scope): void {
  let rest = cx.fresh('n');
  root.lines.push(`  const ${rest} = ${thread};`);
  for (let i = loops.length - 1; i >= 1; i--) {
    const e = k.loops[loops[i]].extent;
    const v = cx.fresh('v');
    root.vars.set(k.loops[loops[i]].v, { js: v, extent: e });
    if (e === 1) {
      root.lines.push(`  const ${v} = 0;`);
      continue;
    }
    const q = cx.fresh('q');
    const r = cx.fresh('m');
    const next = cx.fresh('n');
    root.lines.push(
      `  const ${q} = Math.floor((${rest} + 0.5) / ${e});`,
      `  const ${r} = ${rest} - ${q} * ${e};`,
      `  const ${v} = ${r} < 0 ? ${r} + ${e} : (${r} >= ${e} ? ${r} - ${e} : ${r});`,
      `  const ${next} = ${r} < 0 ? ${q} - 1 : (${r} >= ${e} ? ${q} + 1 : ${q});`,
    );
    rest = next;
  }
  root.vars.set(k.loops[loops[0]].v, { js: rest, extent: k.loops[loops[0]].extent });
}

/** Render one kernel of a plan as gpu.js kernel source. */
export function renderGpuJs(kernel: Kernel, plan: KernelPlan, opts: RenderOptions = {}): RenderedGpuJsKernel {
  const layout = layoutOutput(kernel, opts.max2D ?? 16384);
  const cx = new Ctx(plan, kernel);
  const root = new Scope(null, '  ');
  for (const ax of layout.axes) emitSplit(ax.thread, ax.loops, kernel, cx, root);
  const value = render(kernel.body, cx, root);

  const bufs = [...cx.bufParams.entries()].sort((a, b) => a[0] - b[0]);
  const args = [...cx.argParams.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const params: GpuJsParam[] = [...bufs.map(([buf]) => ({ kind: 'buffer' as const, buf })), ...args.map(([name]) => ({ kind: 'arg' as const, name }))];
  const argNames = [...bufs.map(([, js]) => js), ...args.map(([, js]) => js)];
  const source = `function(${argNames.join(', ')}) {\n${root.lines.join('\n')}${root.lines.length ? '\n' : ''}  return ${value};\n}`;
  return { source, argNames, params, output: layout.output };
}
