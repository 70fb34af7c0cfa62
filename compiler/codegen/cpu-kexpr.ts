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
    case 'reduce':
      k = `R${e.op}[${e.vars.map((v) => `${JSON.stringify(v.v)}<${v.extent}`).join(',')}](${exprKey(e.body)})`;
      break;
  }
  keyCache.set(e, k);
  return k;
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
