// Size-generic export from programs compiled at concrete sizes. The compiler plans one shape; an
// exported module must serve any batch, any layer width and the rank the user picks. We compile
// again with one dimension changed at a time: where the program keeps its structure, every number
// in it (shape entries, constants such as 1/N or alpha/r) is fitted as k·∏ dim^e, e ∈ {±2, ±1, ±½, 0},
// and the fit is confirmed on a further compile with every free dimension changed at once. A
// dimension whose change alters the program (another contraction order, a divisibility failure) is
// fixed at its export value, and the module refuses other sizes.

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
  const p0 = at(base);
  if (!p0) throw new Error('internal: the program does not compile at its export sizes');
  const exps: Record<string, number>[] = p0.numbers.map(() => ({}));
  const free: string[] = [];
  const fixed: Record<string, string> = {};
  for (const d of Object.keys(base)) {
    let found = false;
    for (const s1 of [base[d] + 1, base[d] - 1, 2 * base[d], 3 * base[d]].filter((s) => s >= 1)) {
      const p1 = at({ ...base, [d]: s1 });
      if (!p1 || p1.structure !== p0.structure) continue;
      const q = s1 / base[d];
      const e = p0.numbers.map((v0, i) => {
        const v1 = p1.numbers[i];
        if (v0 === 0) return v1 === 0 ? 0 : undefined;
        return EXPONENTS.find((ex) => close(v1 / v0, q ** ex));
      });
      if (e.some((x) => x === undefined)) continue;
      e.forEach((x, i) => x && (exps[i][d] = x));
      found = true;
      break;
    }
    if (found) free.push(d);
    else fixed[d] = 'the compiled program changes with it';
  }
  const numbers = p0.numbers.map((v, i) => ({ k: v / free.reduce((acc, d) => acc * base[d] ** (exps[i][d] ?? 0), 1), exps: exps[i] }));
  // Confirm on sizes where every free dimension changed at once (catches cross terms). A point
  // where a constant happens to be 1 (alpha/r) simplifies differently: try a few.
  if (free.length > 1) {
    const confirmed = [(s: number) => 2 * s, (s: number) => 3 * s, (s: number) => s + 1].some((move) => {
      const moved = { ...base };
      for (const d of free) moved[d] = move(base[d]);
      const p2 = at(moved);
      return p2 && p2.structure === p0.structure && numbers.every((m, i) => close(evalMonomial(m, moved), p2.numbers[i]));
    });
    if (!confirmed) {
      for (const d of free) fixed[d] = 'the compiled program is not a monomial in the sizes';
      return { free: [], fixed, numbers: p0.numbers.map((v) => ({ k: v, exps: {} })), base: p0 };
    }
  }
  return { free, fixed, numbers, base: p0 };
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
