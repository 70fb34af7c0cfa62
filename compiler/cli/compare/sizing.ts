// The budget search of `lily compare`, one for every method: an adapter's size knobs are its Dim
// hyper-parameters (LoRA's r; Lily's r and E; Compacter's n, m, k …), and the search picks values
// whose trainable count lands within 5% of the budget while staying as close as it can to the
// proportions of the adapter's defaults (Lily(r = 32, E = 2): r/E = 16).
//   1. Scale every knob together, value = max(1, round(default × s)), bisecting s towards the budget.
//   2. Where no common scale lands within 5% (the counts jump over the band: a small r, one expert
//      more), hold one knob at each value from half to twice its value there and scale the others
//      together again.
// Of the candidates within 5%, the one nearest the defaults' proportions wins (then the nearest
// count); with none within 5%, the nearest count. A knob whose default is 2 or more stays at 2 or
// more: scaled down to 1, Lily's experts would be no mixture at all (E = 1).

export interface Knob {
  name: string;
  /** The adapter's default value: the proportions the search prefers. */
  default: number;
}

export interface Sizing {
  values: Record<string, number>;
  count: number;
  within: boolean;
}

/** Relative tolerance of "within budget". */
export const BUDGET_TOLERANCE = 0.05;
/** No knob goes above this (a guard against a count that never reaches the budget). */
const MAX_VALUE = 4096;
/** The smallest value a knob takes. */
export const floorOf = (k: Knob) => Math.min(2, Math.max(1, k.default));

/** How far values are from the defaults' proportions: the spread of log(value / default), 0 when proportional. */
export function proportionDistance(values: Record<string, number>, knobs: Knob[]): number {
  const logs = knobs.map((k) => Math.log(values[k.name] / k.default));
  const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
  return logs.reduce((a, b) => a + (b - mean) ** 2, 0);
}

/**
 * Choose knob values for a budget. `count(values)` is the trainable count at those values (assumed
 * to grow with each knob); it is called once per distinct candidate.
 */
export function chooseSizes(knobs: Knob[], count: (values: Record<string, number>) => number, budget: number): Sizing {
  const seen = new Map<string, Sizing>();
  const at = (values: Record<string, number>): Sizing => {
    const key = knobs.map((k) => values[k.name]).join(',');
    let s = seen.get(key);
    if (!s) {
      const c = count(values);
      seen.set(key, (s = { values, count: c, within: Math.abs(c - budget) <= BUDGET_TOLERANCE * budget }));
    }
    return s;
  };
  /** Values at scale s for the knobs not held; the held ones as given. */
  const scaled = (s: number, held: Record<string, number>) => at(Object.fromEntries(knobs.map((k) => [k.name, held[k.name] ?? Math.min(MAX_VALUE, Math.max(floorOf(k), Math.round(k.default * s)))])));
  /** Bisect the common scale of the free knobs towards the budget (in log space); the bracket's two ends. */
  const fit = (held: Record<string, number>): [Sizing, Sizing] => {
    const top = Math.max(...knobs.filter((k) => !(k.name in held)).map((k) => k.default));
    let lo = 1 / top;
    let hi = 1;
    while (scaled(hi, held).count < budget && hi * top < MAX_VALUE) [lo, hi] = [hi, hi * 2];
    if (scaled(lo, held).count >= budget) hi = lo; // even the smallest sizes reach it
    for (let i = 0; i < 40 && hi / lo > 1 + 1e-6; i++) {
      const mid = Math.sqrt(lo * hi);
      if (scaled(mid, held).count < budget) lo = mid;
      else hi = mid;
    }
    return [scaled(lo, held), scaled(hi, held)];
  };
  // 1. One scale for all knobs.
  const ends = fit({});
  // 2. Where no common scale lands within 5%: hold one knob at each value from half to twice its
  //    value there, and fit the others' common scale again (one knob alone: every value in that range).
  if (!ends.some((e) => e.within))
    for (const centre of ends)
      for (const k of knobs) {
        const v = centre.values[k.name];
        for (let x = Math.max(floorOf(k), Math.floor(v / 2)); x <= Math.min(MAX_VALUE, 2 * v + 1); x++) {
          if (knobs.length === 1) at({ [k.name]: x });
          else fit({ [k.name]: x });
        }
      }
  const all = [...seen.values()];
  const within = all.filter((s) => s.within);
  const gap = (s: Sizing) => Math.abs(s.count - budget);
  if (within.length) return within.reduce((a, b) => (proportionDistance(b.values, knobs) < proportionDistance(a.values, knobs) - 1e-12 || (Math.abs(proportionDistance(b.values, knobs) - proportionDistance(a.values, knobs)) <= 1e-12 && gap(b) < gap(a)) ? b : a));
  return all.reduce((a, b) => (gap(b) < gap(a) ? b : a));
}
