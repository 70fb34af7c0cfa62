// Kernel-IR tree surgery for the GEMM matcher (cpu-gemm-match.ts): finding sum reduces, splitting
// products into factors, and replacing the matched core.
import type { KExpr } from '../fuse/kernel-ir.ts';
import { exprKey } from './cpu-kexpr.ts';

type Reduce = KExpr & { k: 'reduce' };

/** the sum reduce with nested sum reduces flattened into one */
export function flattenSum(e: Reduce): { vars: Reduce['vars']; body: KExpr } {
  const vars = [...e.vars];
  let body = e.body;
  while (body.k === 'reduce' && body.op === 'sum') {
    vars.push(...body.vars);
    body = body.body;
  }
  return { vars, body };
}

/** factors of a product tree; a `neg` becomes a factor −1 */
export function factors(e: KExpr, out: KExpr[] = []): KExpr[] {
  if (e.k === 'bin' && e.op === '*') {
    factors(e.a, out);
    factors(e.b, out);
  } else if (e.k === 'unary' && e.fn === 'neg') {
    out.push({ k: 'const', v: -1 });
    factors(e.a, out);
  } else out.push(e);
  return out;
}

const mul = (a: KExpr, b: KExpr): KExpr => ({ k: 'bin', op: '*', a, b });
export const product = (fs: KExpr[]): KExpr | null => (fs.length === 0 ? null : fs.reduce((a, b) => mul(a, b)));

export interface Candidate {
  node: KExpr & { k: 'reduce' };
  /** variables bound by reduces enclosing the candidate */
  shadow: Set<string>;
}

export function candidates(e: KExpr, shadow: Set<string>, out: Candidate[]): Candidate[] {
  switch (e.k) {
    case 'unary':
    case 'unaryGrad':
      candidates(e.a, shadow, out);
      break;
    case 'bin':
      candidates(e.a, shadow, out);
      candidates(e.b, shadow, out);
      break;
    case 'reduce': {
      if (e.op === 'sum') out.push({ node: e, shadow });
      const inner = new Set(shadow);
      for (const v of e.vars) inner.add(v.v);
      // the body of a flattened sum is not a separate candidate (it is part of this one)
      let body = e.body;
      while (body.k === 'reduce' && body.op === 'sum') {
        for (const v of body.vars) inner.add(v.v);
        body = body.body;
      }
      candidates(body, inner, out);
      break;
    }
  }
  return out;
}

/** replace every structural occurrence of `key` by `by` */
export function substitute(e: KExpr, key: string, by: KExpr): KExpr {
  if (exprKey(e) === key) return by;
  switch (e.k) {
    case 'unary':
    case 'unaryGrad': {
      const a = substitute(e.a, key, by);
      return a === e.a ? e : { ...e, a };
    }
    case 'bin': {
      const a = substitute(e.a, key, by), b = substitute(e.b, key, by);
      return a === e.a && b === e.b ? e : { ...e, a, b };
    }
    case 'reduce': {
      const body = substitute(e.body, key, by);
      return body === e.body ? e : { ...e, body };
    }
    default:
      return e;
  }
}

export function countKey(e: KExpr, key: string): number {
  if (exprKey(e) === key) return 1;
  switch (e.k) {
    case 'unary':
    case 'unaryGrad':
      return countKey(e.a, key);
    case 'bin':
      return countKey(e.a, key) + countKey(e.b, key);
    case 'reduce':
      return countKey(e.body, key);
    default:
      return 0;
  }
}

/** path root → node (by identity) */
export function pathTo(e: KExpr, node: KExpr): KExpr[] | null {
  if (e === node) return [e];
  const kids = e.k === 'unary' || e.k === 'unaryGrad' ? [e.a] : e.k === 'bin' ? [e.a, e.b] : e.k === 'reduce' ? [e.body] : [];
  for (const c of kids) {
    const p = pathTo(c, node);
    if (p) return [e, ...p];
  }
  return null;
}

export function replaceNode(e: KExpr, node: KExpr, by: KExpr): KExpr {
  if (e === node) return by;
  switch (e.k) {
    case 'unary':
    case 'unaryGrad':
      return { ...e, a: replaceNode(e.a, node, by) };
    case 'bin':
      return { ...e, a: replaceNode(e.a, node, by), b: replaceNode(e.b, node, by) };
    case 'reduce':
      return { ...e, body: replaceNode(e.body, node, by) };
    default:
      return e;
  }
}
