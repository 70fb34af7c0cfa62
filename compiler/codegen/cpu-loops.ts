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
//
// Here: the entry points. The emitter is cpu-loops-emitter.ts, the JS spelling of each scalar
// operation cpu-loops-ops.ts, the structural helpers (shared with the GEMM matcher) cpu-kexpr.ts.
import * as T from '../../runtime/tensor/index.ts';
import type { Kernel, KExpr } from '../fuse/kernel-ir.ts';
import { coefMap, rowMajor } from './cpu-kexpr.ts';
import { Emitter, renderNest } from './cpu-loops-emitter.ts';

export { coefMap, exprKey, freeVars, rowMajor } from './cpu-kexpr.ts';
export { num } from './cpu-loops-ops.ts';

export type KernelFn = (B: readonly Float32Array[], args: Readonly<Record<string, number>>, S: readonly Float32Array[]) => void;
export type ScalarFn = (B: readonly Float32Array[], args: Readonly<Record<string, number>>, S: readonly Float32Array[]) => number;

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
