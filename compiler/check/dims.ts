// Symbolic dimensions: sums of monomials with integer exponents (Laurent polynomials), so that
// `In / f * f` is `In`, `2 * r` equals `r + r`, and `[In / g, g]` reshapes back to `[In]`.
// Divisibility is checked when dimensions become concrete (see evalDim).
import { LilyError } from '../diagnostics.ts';

export type Monomial = Record<string, number>; // symbol -> exponent (nonzero)
/** key of monomial -> coefficient; the empty key is the constant term. */
export type Dim = ReadonlyMap<string, number>;

const keyOf = (m: Monomial): string =>
  Object.keys(m)
    .sort()
    .map((s) => (m[s] === 1 ? s : `${s}^${m[s]}`))
    .join('*');

function parseKey(key: string): Monomial {
  const m: Monomial = {};
  if (!key) return m;
  for (const part of key.split('*')) {
    const [s, e] = part.split('^');
    m[s] = e === undefined ? 1 : Number(e);
  }
  return m;
}

function normalize(terms: Map<string, number>): Dim {
  const out = new Map<string, number>();
  // A map's keys are distinct: never equal in the comparison.
  for (const [k, c] of [...terms].sort(([a], [b]) => (a < b ? -1 : 1))) if (c !== 0) out.set(k, c);
  return out;
}

export const dimConst = (n: number): Dim => normalize(new Map([['', n]]));
export const dimSym = (name: string): Dim => new Map([[name, 1]]);

export function dimAdd(a: Dim, b: Dim, sign = 1): Dim {
  const t = new Map(a);
  for (const [k, c] of b) t.set(k, (t.get(k) ?? 0) + sign * c);
  return normalize(t);
}

export function dimMul(a: Dim, b: Dim): Dim {
  const t = new Map<string, number>();
  for (const [ka, ca] of a)
    for (const [kb, cb] of b) {
      const m = parseKey(ka);
      for (const [s, e] of Object.entries(parseKey(kb))) {
        m[s] = (m[s] ?? 0) + e;
        if (m[s] === 0) delete m[s];
      }
      const k = keyOf(m);
      t.set(k, (t.get(k) ?? 0) + ca * cb);
    }
  return normalize(t);
}

/** Division by a single term is exact algebra; by a sum it is only defined when equal (-> 1). */
export function dimDiv(a: Dim, b: Dim): Dim | undefined {
  if (b.size === 1) {
    const [[kb, cb]] = [...b];
    const inv: Monomial = {};
    for (const [s, e] of Object.entries(parseKey(kb))) inv[s] = -e;
    return dimMul(a, new Map([[keyOf(inv), 1 / cb]]));
  }
  if (dimEq(a, b)) return dimConst(1);
  return undefined;
}

export function dimEq(a: Dim, b: Dim): boolean {
  if (a.size !== b.size) return false;
  for (const [k, c] of a) {
    const o = b.get(k);
    if (o === undefined || Math.abs(o - c) > 1e-12) return false;
  }
  return true;
}

/** The size names a dimension depends on (through derived ones: max(In, Out) gives In and Out). */
export function dimSymbols(d: Dim): string[] {
  const s = new Set<string>();
  for (const k of d.keys())
    for (const sym of Object.keys(parseKey(k))) {
      const derived = DERIVED.get(sym);
      if (derived) for (const a of derived.args) for (const x of dimSymbols(a)) s.add(x);
      else s.add(sym);
    }
  return [...s];
}

/** A dimension that is a single symbol (for binding in unification). */
export function dimAsSymbol(d: Dim): string | undefined {
  if (d.size !== 1) return undefined;
  const [[k, c]] = [...d];
  return c === 1 && k && !k.includes('*') && !k.includes('^') ? k : undefined;
}

export function dimAsConst(d: Dim): number | undefined {
  if (d.size === 0) return 0;
  if (d.size === 1 && d.has('')) return d.get('');
  return undefined;
}

export function dimSubst(d: Dim, env: ReadonlyMap<string, Dim>): Dim {
  let out = dimConst(0);
  for (const [k, c] of d) {
    let term = dimConst(c);
    for (const [s, e] of Object.entries(parseKey(k))) {
      const v = env.get(s) ?? dimSym(s);
      for (let i = 0; i < Math.abs(e); i++) term = e > 0 ? dimMul(term, v) : (dimDiv(term, v) ?? term);
    }
    out = dimAdd(out, term);
  }
  return out;
}

/**
 * Derived dimensions (max(In, Out), min(In, Out)) are not polynomials: each distinct one is an opaque
 * symbol, named by its canonical text, that evalDim computes from its arguments. Two are equal when
 * their texts are (max is commutative: arguments are sorted).
 */
const DERIVED = new Map<string, { fn: string; args: Dim[] }>();
export const DERIVED_DIMS: Record<string, (xs: number[]) => number> = {
  max: (xs) => Math.max(...xs),
  min: (xs) => Math.min(...xs),
};
export function dimDerived(fn: string, args: Dim[]): Dim {
  const consts = args.map(dimAsConst);
  if (consts.every((c) => c !== undefined)) return dimConst(DERIVED_DIMS[fn](consts as number[]));
  // The name must not contain the monomial separators * and ^.
  const name = `${fn}(${args.map((a) => showDim(a).replace(/\*/g, '·').replace(/\^/g, '↑')).sort().join(', ')})`;
  DERIVED.set(name, { fn, args });
  return dimSym(name);
}

/** Evaluate at concrete sizes; undefined symbols or non-integral results are reported by name. */
/** A dimension's whole size; at least `min` (1 for sizes; 0 for positions such as a slice's start). */
export function evalDim(d: Dim, sizes: ReadonlyMap<string, number> | Record<string, number>, min = 1): number {
  const get = (s: string) => (sizes instanceof Map ? sizes.get(s) : (sizes as Record<string, number>)[s]);
  let total = 0;
  for (const [k, c] of d) {
    let v = c;
    for (const [s, e] of Object.entries(parseKey(k))) {
      const derived = DERIVED.get(s);
      const x = get(s) ?? (derived ? DERIVED_DIMS[derived.fn](derived.args.map((a) => evalDim(a, sizes))) : undefined);
      if (x === undefined) throw new DimError(`dimension ${s} has no size (give it with --dims ${s}=...)`);
      v *= x ** e;
    }
    total += v;
  }
  const r = Math.round(total);
  if (Math.abs(r - total) > 1e-9) throw new DimError(`dimension ${showDim(d)} is not a whole number at these sizes (${total})`);
  if (r < min) throw new DimError(`dimension ${showDim(d)} is ${r} at these sizes: every size must be at least ${min}`);
  return r;
}

/** Sizes that do not fit the program's dimension arithmetic: a user error (exit 1), not a bug. */
export class DimError extends LilyError {
  constructor(message: string) {
    super([{ code: 'E-size', message }]);
    this.name = 'DimError';
  }
}

export function showDim(d: Dim): string {
  if (d.size === 0) return '0';
  const parts: string[] = [];
  for (const [k, c] of d) {
    const m = parseKey(k);
    const num = Object.entries(m).filter(([, e]) => e > 0).map(([s, e]) => (e === 1 ? s : `${s}^${e}`));
    const den = Object.entries(m).filter(([, e]) => e < 0).map(([s, e]) => (e === -1 ? s : `${s}^${-e}`));
    let coef = Math.abs(c);
    let text = num.join('*');
    // Represent fractional coefficients as division (In/2), whole ones as multiplication (2*r).
    const inv = 1 / coef;
    if (coef < 1 && Number.isInteger(Math.round(inv * 1e9) / 1e9)) {
      den.push(String(Math.round(inv)));
      coef = 1;
    }
    if (coef !== 1 || !text) text = text ? `${coef}*${text}` : String(coef);
    if (den.length) text = `${text}/${den.length > 1 ? `(${den.join('*')})` : den[0]}`;
    parts.push((c < 0 ? (parts.length ? '- ' : '-') : parts.length ? '+ ' : '') + text);
  }
  return parts.join(' ');
}

export const showShape = (s: readonly Dim[]): string => `[${s.map(showDim).join(', ')}]`;
