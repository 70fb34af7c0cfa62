// Size-generic export from programs compiled at concrete sizes. The compiler plans one shape; an
// exported module must serve any batch, any layer width and the rank the user picks. We compile
// again with one dimension changed at a time: where the program keeps its structure, every number
// in it (shape entries, constants such as 1/N or alpha/r) is fitted as k·∏ dim^e, e ∈ {±2, ±1, ±½, 0},
// and the fit is confirmed on a further compile with every free dimension changed at once. A
// dimension whose change alters the program (another contraction order, a divisibility failure) is
// fixed at its export value, and the module refuses other sizes.

import type { Dim } from '../check/dims.ts';

/** A program at some sizes, reduced to its structure and the numbers in it. */
export interface Probe {
  structure: string;
  numbers: number[];
}

/** A number as a monomial in the free dimensions: k · ∏ dims[d]^e. */
export interface Monomial {
  k: number;
  exps: Record<string, number>;
}

export interface Fit {
  /** Dimensions the module takes at run time. */
  free: string[];
  /** Dimensions fixed at their export value (with the reason). */
  fixed: Record<string, string>;
  numbers: Monomial[];
}

const EXPONENTS = [0, 1, -1, 0.5, -0.5, 2, -2];
/** Why a dimension is fixed when every move changes the program's structure. */
export const CHANGES = 'the compiled program changes with it';
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-11 * Math.max(1, Math.abs(a), Math.abs(b));

/** Split a JSON-able value into its structure (numbers replaced by #) and the numbers in order. */
export function splitNumbers(value: unknown, numbers: number[] = []): { structure: string; numbers: number[] } {
  const walk = (v: unknown): string => {
    if (typeof v === 'number') {
      numbers.push(v);
      return '#';
    }
    if (Array.isArray(v)) return `[${v.map(walk).join(',')}]`;
    if (v && typeof v === 'object')
      return `{${Object.keys(v)
        .sort()
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .map((k) => `${k}:${walk((v as Record<string, unknown>)[k])}`)
        .join(',')}}`;
    return JSON.stringify(v);
  };
  return { structure: walk(value), numbers };
}

/**
 * Fit the numbers of `probe(sizes)` over the dimensions in `base`. `probe` returns undefined (or
 * throws) where the program cannot be built at those sizes.
 */
export function fitDimensions(base: Record<string, number>, probe: (sizes: Record<string, number>) => Probe | undefined): Fit & { base: Probe } {
  const at = (sizes: Record<string, number>) => {
    try {
      return probe(sizes);
    } catch {
      return undefined;
    }
  };
  const p0 = probe(base); // sizes that do not fit the program are the user's error, reported as is
  if (!p0) throw new Error('internal: the program does not compile at its export sizes');
  const exps: Record<string, number>[] = p0.numbers.map(() => ({}));
  const free: string[] = [];
  const fixed: Record<string, string> = {};
  for (const d of Object.keys(base)) {
    let found = false;
    const points = [base[d] + 1, base[d] - 1, 2 * base[d], 3 * base[d], Math.round(base[d] / 2)].filter((s, i, all) => s >= 1 && s !== base[d] && all.indexOf(s) === i);
    const probes = new Map(points.map((s) => [s, at({ ...base, [d]: s })]));
    for (const s1 of points) {
      const p1 = probes.get(s1);
      if (!p1 || p1.structure !== p0.structure) continue;
      const q = s1 / base[d];
      const e = p0.numbers.map((v0, i) => {
        const v1 = p1.numbers[i];
        if (v0 === 0) return v1 === 0 ? 0 : undefined;
        return EXPONENTS.find((ex) => close(v1 / v0, q ** ex));
      });
      if (e.some((x) => x === undefined)) continue;
      // One point can fit by luck (min(In, Out) − r at r = 9 looks like 27 / r): the other points
      // of the same structure must agree, else the dimension is not free.
      const refuted = points.some((s2) => {
        const p2 = probes.get(s2);
        return s2 !== s1 && p2 && p2.structure === p0.structure && p0.numbers.some((v0, i) => !close(v0 * (s2 / base[d]) ** e[i]!, p2.numbers[i]));
      });
      if (refuted) break;
      e.forEach((x, i) => x && (exps[i][d] = x));
      found = true;
      break;
    }
    if (found) free.push(d);
    else fixed[d] = CHANGES;
  }
  const monomials = (dims: string[]) =>
    p0.numbers.map((v, i) => {
      const e = Object.fromEntries(dims.filter((d) => exps[i][d]).map((d) => [d, exps[i][d]]));
      return { k: v / dims.reduce((acc, d) => acc * base[d] ** (e[d] ?? 0), 1), exps: e };
    });
  // Confirm on sizes where every free dimension changed at once (catches cross terms), including
  // moves that change which of two dimensions is larger and moves down (catches min/max, which a
  // single move can miss). A point whose program differs in structure (a constant that happens to
  // be 1 there simplifies away, sizes that do not divide) says nothing; a point with the same
  // structure and other numbers refutes the fit.
  const confirms = (dims: string[]) => {
    if (dims.length < 2) return true;
    const numbers = monomials(dims);
    const moves = [(s: number) => 2 * s, (s: number) => 3 * s, (s: number) => s + 1, (s: number, i: number) => s * (2 + i), (s: number, i: number) => s * (2 + dims.length - i), (s: number, i: number) => Math.max(1, Math.round(s / 2)) + i];
    let ok = 0;
    for (const move of moves) {
      const moved = { ...base };
      dims.forEach((d, i) => (moved[d] = move(base[d], i)));
      const p2 = at(moved);
      if (!p2 || p2.structure !== p0.structure) continue;
      if (!numbers.every((m, i) => close(evalMonomial(m, moved), p2.numbers[i]))) return false;
      ok++;
    }
    return ok > 0;
  };
  if (!confirms(free)) {
    // One dimension may be the culprit (min(In, Out) in a slice): fix it and keep the others free.
    // (the batch N, first in the list, is tried last)
    const culprit = [...free].reverse().find((d) => confirms(free.filter((x) => x !== d)));
    const fixedNow = culprit ? [culprit] : [...free];
    for (const d of fixedNow) fixed[d] = 'the compiled program is not a monomial in the sizes';
    const rest = free.filter((d) => !fixedNow.includes(d));
    return { free: rest, fixed, numbers: monomials(rest), base: p0 };
  }
  return { free, fixed, numbers: monomials(free), base: p0 };
}

export const evalMonomial = (m: Monomial, sizes: Record<string, number>) => Object.entries(m.exps).reduce((acc, [d, e]) => acc * sizes[d] ** e, m.k);

/** A Python float (repr round-trips exactly). */
export const pyFloat = (v: number): string => (Number.isFinite(v) ? (Number.isInteger(v) && Math.abs(v) < 1e15 ? `${v}.0` : `${v}`) : v > 0 ? 'math.inf' : v < 0 ? '-math.inf' : 'math.nan');

/** Python for a monomial; `dim(d)` spells a dimension. Integers stay integers (shapes, indices). */
export function pyMonomial(m: Monomial, dim: (d: string) => string, integer: boolean): string {
  const terms = Object.entries(m.exps).filter(([, e]) => e !== 0);
  if (!terms.length) return integer ? `${Math.round(m.k)}` : pyFloat(m.k);
  if (integer && terms.every(([, e]) => e === 1) && Number.isInteger(m.k)) return [m.k === 1 ? '' : `${m.k}`, ...terms.map(([d]) => dim(d))].filter(Boolean).join(' * ');
  const factor = terms.map(([d, e]) => (e === 1 ? dim(d) : `${dim(d)} ** ${pyFloat(e)}`)).join(' * ');
  if (integer) {
    // e.g. In / f: exact integer division of a product by a product.
    const num = terms.filter(([, e]) => e === 1).map(([d]) => dim(d));
    const den = terms.filter(([, e]) => e === -1).map(([d]) => dim(d));
    if (num.length + den.length === terms.length && Number.isInteger(m.k)) return `(${[`${m.k}`, ...num].join(' * ')}) // (${den.join(' * ') || '1'})`;
    return `int(round(${pyFloat(m.k)} * ${factor}))`;
  }
  return `${pyFloat(m.k)} * ${factor}`;
}

/**
 * A declared dimension (compiler/check/dims.ts: a Laurent polynomial whose symbols may be derived,
 * max(In, Out)) as Python over the sizes, integer arithmetic throughout; undefined for a form this
 * does not spell (derived dimensions of compound arguments).
 */
export function pyDim(d: Dim, dim: (name: string) => string): string | undefined {
  const terms: string[] = [];
  for (const [key, c] of d) {
    const num: string[] = [];
    const den: string[] = [];
    for (const part of key ? key.split('*') : []) {
      const [sym, e = '1'] = part.split('^');
      const p = pySymbol(sym, dim);
      const n = Number(e);
      if (!p || !Number.isInteger(n)) return undefined;
      for (let i = 0; i < Math.abs(n); i++) (n > 0 ? num : den).push(p);
    }
    let top = c;
    let bottom = 1;
    if (!Number.isInteger(c)) {
      bottom = Math.round(1 / Math.abs(c));
      if (Math.abs(bottom * Math.abs(c) - 1) > 1e-9) return undefined;
      top = Math.sign(c);
    }
    const factors = top === 1 && num.length ? num : [`${top}`, ...num];
    const numerator = factors.length === 1 ? factors[0] : `(${factors.join(' * ')})`;
    const divisor = [...(bottom !== 1 ? [`${bottom}`] : []), ...den];
    terms.push(divisor.length ? `${numerator} // ${divisor.length === 1 ? divisor[0] : `(${divisor.join(' * ')})`}` : numerator);
  }
  return terms.length === 1 ? terms[0] : terms.length ? `(${terms.join(' + ')})` : '0';
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
function pySymbol(s: string, dim: (name: string) => string): string | undefined {
  const derived = /^(max|min)\((.*)\)$/.exec(s);
  if (!derived) return NAME.test(s) ? dim(s) : undefined;
  const args = derived[2].split(', ');
  return args.every((a) => NAME.test(a)) ? `${derived[1]}(${args.map(dim).join(', ')})` : undefined;
}
