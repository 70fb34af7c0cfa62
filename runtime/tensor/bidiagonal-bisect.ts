// Selected singular values of an upper bidiagonal B (diagonal d, superdiagonal e) by bisection on
// Sturm counts of the Golub–Kahan matrix TGK = [[0, Bᵀ], [B, 0]], permuted to a tridiagonal with a
// zero diagonal and off-diagonal d0, e0, d1, …, d(n−1), whose eigenvalues are ±σ: LAPACK dbdsvdx's
// approach (dstebz on TGK). One count costs 2n divides, so the 16 values PiSSA reads of a 768×768
// weight take 16 × 62 counts, a few ms, where every value by QR takes ~20 ms. A zero-diagonal
// tridiagonal determines its eigenvalues to high relative accuracy and the count is exact for a
// matrix a few ulps away entry by entry (Demmel–Kahan), so the smallest values (MiLoRA's) come out
// as accurate, relatively, as the largest.
//
// A value is bisected to the end, on the bit patterns of doubles: it is the smallest double x at
// which more than j values (j = its rank from the smallest) are counted at or below x. The count is monotone
// in x in IEEE arithmetic (Kahan; Demmel, Dhillon and Ren 1995), so that double is unique and a value
// has the same bits however it was found: from [0, ‖B‖], or from a bracket around the QR iteration's
// value when many values are needed at once (much cheaper per value than 62 counts).

/** How many singular values have been computed, by bisection and by the QR iteration (tests check that a slice computes only its own). */
export const singularValuesComputed = { bisection: 0, qr: 0 };

export class BidiagonalBisection {
  readonly n: number;
  /** TGK's off-diagonal, squared, after scaling B by a power of two so that its largest entry is < 1 */
  private readonly c2: Float64Array;
  /** B is scaled by 2^exponent (exact), the values scaled back */
  private readonly exponent: number;
  /** a pivot smaller than this is raised to it (dstebz's PIVMIN: no division by zero, no overflow) */
  private readonly pivmin = 2 ** -1022;
  /** above every value (scaled): TGK's Gershgorin bound */
  private readonly top: number;

  constructor(d: Float64Array, e: Float64Array) {
    const n = (this.n = d.length);
    let big = 0;
    for (let i = 0; i < n; i++) big = Math.max(big, Math.abs(d[i]), i < n - 1 ? Math.abs(e[i]) : 0);
    if (!Number.isFinite(big)) throw new Error('svd: the matrix has an infinite or NaN entry');
    // the largest entry into [1/2, 1): the squares neither overflow nor, for entries within 2^-500 of it, underflow
    let exponent = big > 0 ? -Math.floor(Math.log2(big)) - 1 : 0;
    while (big > 0 && ldexp(big, exponent) >= 1) exponent--;
    while (big > 0 && ldexp(big, exponent) < 0.5) exponent++;
    this.exponent = exponent;
    const c = new Float64Array(Math.max(2 * n - 1, 0));
    for (let i = 0; i < n; i++) {
      c[2 * i] = ldexp(d[i], exponent);
      if (i < n - 1) c[2 * i + 1] = ldexp(e[i], exponent);
    }
    let top = 0;
    for (let i = 0; i < c.length; i++) top = Math.max(top, Math.abs(c[i]) + (i + 1 < c.length ? Math.abs(c[i + 1]) : 0));
    this.top = top * (1 + 2 ** -40) + this.pivmin;
    this.c2 = c.map((x) => x * x);
  }

  /**
   * For each xs[v] ≥ 0 (scaled), how many singular values lie at or below it: TGK's non-positive
   * pivots (a zero pivot is an eigenvalue at x) less n.
   */
  counts(xs: Float64Array, out: Int32Array, m = xs.length): void {
    // four chains at a time keep four divides in flight (one chain waits on each divide; more spill registers)
    for (let v = 0; v < m; v += 4) {
      const last = m - 1;
      sturmCount4(this.c2, this.pivmin, xs[v], xs[Math.min(v + 1, last)], xs[Math.min(v + 2, last)], xs[Math.min(v + 3, last)], four);
      for (let w = 0; w < 4 && v + w < m; w++) out[v + w] = four[w] - this.n;
    }
  }

  /**
   * The singular values of ranks ks (k-th largest), each bisected from [0, ‖B‖], or — where `guess`
   * holds B's values from elsewhere (the QR iteration's, largest first) — from a bracket grown
   * around guess[k]: the same bits (see above) in a handful of counts.
   */
  values(ks: readonly number[], guess?: Float64Array): Float64Array {
    const searches = ks.map((k) => {
      if (!(Number.isInteger(k) && k >= 0 && k < this.n)) throw new Error(`svd: singular value ${k} of ${this.n}`);
      return new ValueSearch(this.n - 1 - k, this.top, guess ? ldexp(guess[k], this.exponent) : NaN);
    });
    const m = searches.length;
    const xs = new Float64Array(m);
    const counts = new Int32Array(m);
    const slot = new Int32Array(m); // where search v's point is in xs: neighbouring values share their first points
    for (;;) {
      let points = 0;
      for (let v = 0; v < m; v++) {
        const x = searches[v].x;
        if (Number.isNaN(x)) {
          slot[v] = -1;
          continue;
        }
        let w = 0;
        while (w < points && xs[w] !== x) w++;
        if (w === points) xs[points++] = x;
        slot[v] = w;
      }
      if (!points) break;
      this.counts(xs, counts, points);
      for (let v = 0; v < m; v++) if (slot[v] >= 0) searches[v].take(counts[slot[v]]);
    }
    singularValuesComputed.bisection += m;
    return Float64Array.from(searches, (s) => ldexp(s.result(), -this.exponent));
  }
}

const four = new Int32Array(4);

/**
 * One value's search, rank j from the smallest: x is the next point to count at (NaN when done).
 * With a guess, a bracket is first grown around it (steps of 4, 64, 1024 … ulps) until it holds the
 * value; then (lo, hi] — count(lo) ≤ j < count(hi) — is bisected on the doubles' bit patterns down
 * to neighbours and the value is hi; when lo is still 0, one more count tells 0 (an exact zero
 * value) from hi.
 */
class ValueSearch {
  x: number;
  private lo = 0;
  private hi: number;
  /** the value is exactly 0 (undefined: not asked yet) */
  private zero: boolean | undefined;
  /** growing a bracket around the guess: +1 upward (the guess is below the value), −1 downward, 0 before the first count */
  private growing: boolean;
  private dir = 0;
  private step = 0;
  private prev = 0;

  constructor(
    private readonly j: number,
    private readonly top: number,
    guess: number,
  ) {
    this.hi = top;
    this.growing = guess > 0 && guess < top;
    if (this.growing) {
      this.x = guess;
      this.step = 4 * 2 ** -52 * guess;
    } else this.x = this.next();
  }

  take(count: number): void {
    if (this.growing) return this.grow(count <= this.j);
    if (this.x === 0) this.zero = count > this.j;
    else if (count <= this.j) this.lo = this.x;
    else this.hi = this.x;
    this.x = this.next();
  }

  result(): number {
    return this.zero ? 0 : this.hi;
  }

  private next(): number {
    const mid = bitMidpoint(this.lo, this.hi);
    if (!Number.isNaN(mid)) return mid;
    return this.lo === 0 && this.zero === undefined ? 0 : NaN;
  }

  /** one step of growing the bracket: x is below the value (count ≤ j) or not */
  private grow(below: boolean): void {
    const x = this.x;
    if (this.dir === 0) this.dir = below ? 1 : -1;
    else if (below !== this.dir > 0) {
      // crossed: the value lies between the last two points
      return this.bisect(this.dir > 0 ? this.prev : x, this.dir > 0 ? x : this.prev);
    } else this.step *= 16;
    this.prev = x;
    const further = x + this.dir * this.step;
    if (further >= this.top) this.bisect(x, this.top);
    else if (further <= 0) this.bisect(0, x);
    else this.x = further;
  }

  private bisect(lo: number, hi: number): void {
    this.growing = false;
    this.lo = lo;
    this.hi = hi;
    this.x = this.next();
  }
}

const scratch = new Float64Array(1);
const words = new Uint32Array(scratch.buffer);
/** which of the two 32-bit words of a double holds its sign and exponent */
const [LOW, HIGH] = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1 ? [0, 1] : [1, 0];

/**
 * The double halfway between a and b (0 ≤ a < b) in bit patterns — where the non-negative doubles
 * are in order — or NaN when they are neighbours. Two 32-bit halves, not BigInt: no allocation.
 */
function bitMidpoint(a: number, b: number): number {
  scratch[0] = a;
  const aLow = words[LOW];
  const aHigh = words[HIGH];
  scratch[0] = b;
  const bLow = words[LOW];
  const bHigh = words[HIGH];
  if ((bHigh - aHigh) * 2 ** 32 + (bLow - aLow) <= 1) return NaN;
  const high = aHigh + bHigh; // < 2³² (both high words < 2³¹)
  let midHigh = Math.floor(high / 2);
  let midLow = (high % 2) * 2 ** 31 + Math.floor((aLow + bLow) / 2);
  if (midLow >= 2 ** 32) {
    midLow -= 2 ** 32;
    midHigh++;
  }
  words[LOW] = midLow;
  words[HIGH] = midHigh;
  return scratch[0];
}

/** x·2^k, in two steps so that 2^k itself need not be a double (exact unless the result under- or overflows) */
function ldexp(x: number, k: number): number {
  const h = Math.trunc(k / 2);
  return x * 2 ** h * 2 ** (k - h);
}

/**
 * TGK's negative pivots at four shifts: the LDLᵀ recurrence q_i = −x − c_{i−1}² / q_{i−1} (dstebz's,
 * a pivot below pivmin raised to −pivmin), unrolled by hand over four independent chains.
 */
function sturmCount4(c2: Float64Array, pivmin: number, x0: number, x1: number, x2: number, x3: number, out: Int32Array): void {
  // plain assignments, no destructuring: this runs cold at a compile, where the interpreter would build arrays
  let q0 = -x0;
  let q1 = -x1;
  let q2 = -x2;
  let q3 = -x3;
  if (Math.abs(q0) < pivmin) q0 = -pivmin;
  if (Math.abs(q1) < pivmin) q1 = -pivmin;
  if (Math.abs(q2) < pivmin) q2 = -pivmin;
  if (Math.abs(q3) < pivmin) q3 = -pivmin;
  let k0 = +(q0 <= 0);
  let k1 = +(q1 <= 0);
  let k2 = +(q2 <= 0);
  let k3 = +(q3 <= 0);
  for (let i = 0; i < c2.length; i++) {
    const c = c2[i];
    let t0 = -x0 - c / q0;
    let t1 = -x1 - c / q1;
    let t2 = -x2 - c / q2;
    let t3 = -x3 - c / q3;
    if (Math.abs(t0) < pivmin) t0 = -pivmin;
    if (Math.abs(t1) < pivmin) t1 = -pivmin;
    if (Math.abs(t2) < pivmin) t2 = -pivmin;
    if (Math.abs(t3) < pivmin) t3 = -pivmin;
    q0 = t0;
    q1 = t1;
    q2 = t2;
    q3 = t3;
    k0 += +(t0 <= 0);
    k1 += +(t1 <= 0);
    k2 += +(t2 <= 0);
    k3 += +(t3 <= 0);
  }
  out[0] = k0;
  out[1] = k1;
  out[2] = k2;
  out[3] = k3;
}

/**
 * B's singular values one at a time (k-th largest), each computed once, for the columns a program
 * reads: by bisection, or — when many are asked at once, or the QR iteration has run anyway — from
 * brackets around the QR values (the same bits; see above).
 */
export class SelectedValues {
  private readonly bisection: BidiagonalBisection;
  /** NaN where not computed yet */
  private readonly known: Float64Array;

  constructor(
    d: Float64Array,
    e: Float64Array,
    /** every value by the QR iteration, largest first */
    private readonly qr: { values(): Float64Array; done(): boolean },
  ) {
    this.bisection = new BidiagonalBisection(d, e);
    this.known = new Float64Array(d.length).fill(NaN);
  }

  get(k: number): number {
    if (Number.isNaN(this.known[k])) this.ensure([k]);
    return this.known[k];
  }

  /** Compute the values of ranks ks together (interleaved: their counts overlap). */
  ensure(ks: Iterable<number>): void {
    const todo = [...new Set(ks)].filter((k) => Number.isNaN(this.known[k]));
    if (!todo.length) return;
    // from scratch a value costs ~62 counts of 2n steps; the QR iteration costs about as much as n/5
    // values, after which each value takes ~8 counts
    const guess = this.qr.done() || 5 * todo.length > this.bisection.n ? this.qr.values() : undefined;
    const values = this.bisection.values(todo, guess);
    todo.forEach((k, i) => (this.known[k] = values[i]));
  }
}
