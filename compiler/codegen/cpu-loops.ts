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
// run-time scalars. All arithmetic is in doubles; only stores round to float32. Buffer ids are not
// in the source (nor a flat elementwise kernel's length): a factory (U, ids, n) binds them, and
// factories are shared by source (instantiate).
//
// Here: the entry points. The emitter is cpu-loops-emitter.ts, the JS spelling of each scalar
// operation cpu-loops-ops.ts, the structural helpers (shared with the GEMM matcher) cpu-kexpr.ts.
import * as T from '../../runtime/tensor/index.ts';
import type { BufferId, Kernel, KExpr } from '../fuse/kernel-ir.ts';
import { coefMap, rowMajor } from './cpu-kexpr.ts';
import { Emitter, renderNest } from './cpu-loops-emitter.ts';

export { coefMap, exprKey, freeVars, rowMajor } from './cpu-kexpr.ts';
export { num } from './cpu-loops-ops.ts';

export type KernelFn = (B: readonly Float32Array[], args: Readonly<Record<string, number>>, S: readonly Float32Array[]) => void;
export type ScalarFn = (B: readonly Float32Array[], args: Readonly<Record<string, number>>, S: readonly Float32Array[]) => number;

/**
 * A JS function name from a kernel name, without the kernel's number (`k560_add_L51` → `kernel_add_L51`):
 * the name is part of the source, and kernels of the same form (the blocks of a model) must share it.
 * Prefixed: a kernel named `delete` must still parse.
 */
export function sanitize(name: string): string {
  return `kernel_${name.replace(/^k\d+_/, '').replace(/[^A-Za-z0-9_$]/g, '_')}`;
}

/**
 * A kernel's generated code: `source` is the body of a factory (U, ids, n) returning the function
 * (B, args, S); buffer b<i> of the source is B[ids[i]]. The source holds no buffer ids (nor, for a
 * flat elementwise kernel, its length n), so kernels of the same form share it (and its compiled
 * factory: compileLoops).
 */
export interface KernelForm {
  source: string;
  ids: readonly BufferId[];
  /** a flat kernel's length (the factory's `n`; 0 for the others: their shape is in the source) */
  n: number;
}

/** The form of a function (B, args, S) computing kernel k with generated loops. */
export function renderKernel(k: Kernel): KernelForm {
  const em = new Emitter();
  const flat = flatten(k);
  if (flat) k = flat;
  const loops = k.loops.map((l) => {
    const s = em.scope(l.v, l.extent);
    s.isOut = true;
    if (flat) s.bound = 'n';
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
  return { source: em.factory(fn), ids: em.ids, n: flat ? flat.loops[0]!.extent : 0 };
}

const FLAT = 'i';

/**
 * An elementwise kernel whose every load reads the output's own element (the same row-major
 * layout, at any fixed offset) or one fixed element (a scalar: the optimizer's step arguments)
 * becomes one loop over the output, of a length `n` its factory binds: a form that holds no
 * shape. The optimizer's updates of every parameter then share a function (they differ only in
 * size), so a small parameter's update runs the code V8 optimised for the large ones instead of
 * waiting in the interpreter, boxing every double it computes, for the tens of steps its own few
 * values would take to make it hot. Null when k is not of that kind.
 */
function flatten(k: Kernel): Kernel | null {
  if (k.loops.length === 0) return null;
  const live = k.loops.filter((l) => l.extent !== 1);
  const out = coefMap(rowMajor(live));
  const n = k.loops.reduce((p, l) => p * l.extent, 1);
  const one = new Set(k.loops.filter((l) => l.extent === 1).map((l) => l.v));
  const rewrite = (e: KExpr): KExpr | null => {
    switch (e.k) {
      case 'load': {
        const at = coefMap(e.at);
        for (const v of one) at.delete(v);
        if (at.size === 0) return { ...e, at: { terms: [], offset: e.at.offset } };
        if (at.size !== out.size || [...at].some(([v, c]) => out.get(v) !== c)) return null;
        return { ...e, at: { terms: [{ v: FLAT, c: 1 }], offset: e.at.offset } };
      }
      case 'unary':
      case 'unaryGrad': {
        const a = rewrite(e.a);
        return a && { ...e, a };
      }
      case 'bin': {
        const a = rewrite(e.a), b = a && rewrite(e.b);
        return b && { ...e, a: a!, b };
      }
      case 'reduce':
        return null;
      default:
        return e;
    }
  };
  const body = rewrite(k.body);
  return body && { ...k, loops: [{ v: FLAT, extent: n }], body };
}

/** The form of a function (B, args, S) returning the value of a variable-free expression. */
export function renderScalar(e: KExpr, name = 'scalar'): KernelForm {
  const em = new Emitter();
  const val = em.emit(e, [em.pre]);
  const fn = `function ${sanitize(name)}(B, args, S) {\n${em.finish(`return ${val};`)}\n}`;
  return { source: em.factory(fn), ids: em.ids, n: 0 };
}

/** JS source of kernel k's factory (see KernelForm). */
export const renderKernelSource = (k: Kernel): string => renderKernel(k).source;
export const renderScalarSource = (e: KExpr, name?: string): string => renderScalar(e, name).source;

type Factory = (U: typeof T.unary, ids: readonly BufferId[], n: number) => unknown;

/**
 * Compiled factories by source. Kernels of one form then share one function literal, so V8 keeps
 * one feedback vector and one optimised code for them all (a form run by six blocks warms up six
 * times faster: an unoptimised kernel boxes every double it computes, i.e. allocates), and a plan
 * makes one `new Function` per form. Bounded, oldest first out: a long-lived process (the language
 * server, the playground) compiles many programs.
 */
const factories = new Map<string, Factory>();
const MAX_FACTORIES = 4096;
let compiledFactories = 0;

/** how many distinct kernel factories this process has compiled (`new Function` calls) */
export const kernelFactoriesCompiled = (): number => compiledFactories;

/** forget the compiled factories (bench/compile.ts: each timed compile starts as a fresh process would) */
export function clearKernelFactories(): void {
  factories.clear();
}

/** The function of a form: its factory (compiled once per source) bound to the form's buffers. */
export function instantiate<F>(form: KernelForm): F {
  let make = factories.get(form.source);
  if (!make) {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    make = new Function('U', 'ids', 'n', form.source) as Factory;
    compiledFactories++;
    if (factories.size >= MAX_FACTORIES) factories.delete(factories.keys().next().value!);
    factories.set(form.source, make);
  }
  return make(T.unary, form.ids, form.n) as F;
}

/** `source`: the factory body (shared by kernels of the same form); `ids`: this kernel's buffers */
export function compileLoops(k: Kernel): { fn: KernelFn } & KernelForm {
  const form = renderKernel(k);
  return { fn: instantiate<KernelFn>(form), ...form };
}

export function compileScalar(e: KExpr, name?: string): { fn: ScalarFn } & KernelForm {
  const form = renderScalar(e, name);
  return { fn: instantiate<ScalarFn>(form), ...form };
}
