// Structural helpers over the kernel IR, shared by the CPU loop emitter (cpu-loops-emitter.ts) and
// the GEMM matcher (cpu-gemm-match.ts).
import type { Affine, KExpr } from '../fuse/kernel-ir.ts';

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
    case 'reduce': {
      // Bound variables get canonical names (#height.index), so the same reduce written with other
      // variable names has the same key: softmax's max, once in the numerator and once inside the
      // sum, is computed once. A variable occurs in a key as `c*"v"` (loads) or `"v"<` (reduces).
      const h = reduceHeight(e);
      let body = exprKey(e.body);
      const vars = e.vars.map((v, i) => {
        const from = JSON.stringify(v.v), to = JSON.stringify(`#${h}.${i}`);
        body = body.split(`*${from}`).join(`*${to}`).split(`${from}<`).join(`${to}<`);
        return `${to}<${v.extent}`;
      });
      k = `R${e.op}[${vars.join(',')}](${body})`;
      break;
    }
  }
  keyCache.set(e, k);
  return k;
}

const heightCache = new WeakMap<KExpr, number>();
/** How deeply reduces nest in e (0: none), so nested reduces' canonical names differ. */
function reduceHeight(e: KExpr): number {
  let h = heightCache.get(e);
  if (h !== undefined) return h;
  switch (e.k) {
    case 'unary':
    case 'unaryGrad':
      h = reduceHeight(e.a);
      break;
    case 'bin':
      h = Math.max(reduceHeight(e.a), reduceHeight(e.b));
      break;
    case 'reduce':
      h = 1 + reduceHeight(e.body);
      break;
    default:
      h = 0;
  }
  heightCache.set(e, h);
  return h;
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

/**
 * The loop nest level (index into `chain`, whose entry 0 is the function prelude) that binds v.
 * Both loop renderers (cpu-loops-emitter.ts: JavaScript; runtime/backends/wasm-loops.ts) place a
 * value at the deepest level binding one of its variables.
 */
export function bindingLevel(chain: readonly { v: string | null }[], v: string, who: string): number {
  for (let i = chain.length - 1; i > 0; i--) if (chain[i]!.v === v) return i;
  throw new Error(`${who}: variable ${v} is not bound by any loop or reduce`);
}

/** The deepest level binding any of vars (0, the prelude, when none). */
export function deepestBinding(chain: readonly { v: string | null }[], vars: Iterable<string>, who: string): number {
  let t = 0;
  for (const v of vars) t = Math.max(t, bindingLevel(chain, v, who));
  return t;
}
