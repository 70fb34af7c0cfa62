// Seeded PRNG for reproducible initialization.
//
// Generator: xoshiro128** (Blackman & Vigna), 128-bit state, pure 32-bit
// arithmetic via Math.imul and >>> (no BigInt). Its state is derived from a
// 128-bit "key" by a small sponge whose mixing step is MurmurHash3's fmix32
// finalizer.
//
// fork(label) derives a child key from the parent's *key* and the UTF-8
// bytes of the label, never from the parent's consumed state. So
// rng(seed).fork('layer3.lily_A') gives the same stream no matter how many
// numbers were drawn from the parent or its other forks, which is what makes
// per-parameter initialization reproducible and order-independent.

/** Where bulk draws go: float64, or float32 (each value the same double, rounded once on the store). */
export type FloatArray = Float64Array | Float32Array;

import { uniformWasm, uniformWasmInto } from './uniform-wasm.ts';

export interface Rng {
  /** Uniform in [0, 1), with 53 random bits. */
  next(): number;
  /** Raw 32-bit unsigned output. */
  uint32(): number;
  /** Normal(mean, std) via Box–Muller (the second value of each pair is cached). */
  normal(mean?: number, std?: number): number;
  /** Uniform in [low, high). */
  uniform(low: number, high: number): number;
  /** out[i] = normal(mean, std) for i = 0, 1, …: the same numbers, drawn in bulk. */
  normalInto(out: FloatArray, mean?: number, std?: number): void;
  /** out[i] = uniform(low, high) for i = 0, 1, …: the same numbers, drawn in bulk (whole-model weights draw ~10⁷). */
  uniformInto(out: FloatArray, low: number, high: number): void;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** An independent stream determined by this generator's key and the label. */
  fork(label: string): Rng;
  /** A generator at this one's position (and cached normal): both then draw the same numbers. */
  clone(): Rng;
  /** This generator's key and position as plain data (rngAt makes it again, e.g. on another thread). */
  state(): RngState;
}

export interface RngState {
  key: number[];
  s: number[];
  spare: number;
  hasSpare: boolean;
}

const GOLDEN = 0x9e3779b9;
/** 2⁻⁵³: multiplying by it is dividing by 2⁵³, exactly (and faster) */
const TWO_POW_M53 = 1 / 9007199254740992;

/** MurmurHash3 32-bit finalizer: a bijection on uint32 with full avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

/**
 * Absorb 32-bit words into a 4-word key. Each word is xored into key[0],
 * then two rounds chain every key word through fmix32 together with its
 * neighbour, so every input bit reaches every key word.
 */
function absorb(key: Uint32Array, words: readonly number[]): void {
  for (const w of words) {
    key[0] ^= w;
    for (let round = 0; round < 2; round++) {
      for (let j = 0; j < 4; j++) {
        key[j] = fmix32((key[j] + key[(j + 3) & 3] + Math.imul(GOLDEN, j + 1 + 4 * round)) >>> 0);
      }
    }
  }
}

/** UTF-8 bytes packed little-endian into words, followed by the byte length (so padding is unambiguous). */
function labelWords(label: string): number[] {
  const bytes = new TextEncoder().encode(label);
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 4) {
    words.push((bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0);
  }
  words.push(bytes.length);
  return words;
}

/** One xoshiro128** step: returns the output and advances the 4-word state in place. */
export function xoshiro128ssStep(s: Uint32Array): number {
  const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
  const t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11);
  return result;
}

const FORK_TAG = 0x666f726b; // 'fork': separates fork keys from seed keys
/** uniformInto draws at least this many values in WebAssembly (below, the call costs more than it saves) */
const WASM_MIN = 64;

class Xoshiro128ss implements Rng {
  private s = new Uint32Array(4);
  // a number field with a flag, never null: a field that holds null or a double makes V8 box every
  // double stored into it (an allocation per draw; whole-model inputs draw ~10⁶)
  private spare = 0;
  private hasSpare = false;

  constructor(private readonly key: Uint32Array) {
    // Derive the state from the key through one more mixing pass, so the
    // stream is not a trivial function of the key words.
    const st = Uint32Array.from(key);
    absorb(st, [0x73746174]); // 'stat'
    this.s.set(st);
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1; // all-zero is a fixed point
  }

  uint32(): number {
    return xoshiro128ssStep(this.s);
  }

  next(): number {
    // 27 + 26 bits, as in the reference double conversion.
    const hi = this.uint32() >>> 5;
    const lo = this.uint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  uniformInto(out: FloatArray, low: number, high: number): void {
    const wasm = out.length >= WASM_MIN ? uniformWasm() : null;
    if (wasm) return uniformWasmInto(wasm, this.s, out, low, high);
    // next() inlined with the state in locals: V8 keeps them in registers instead of the Uint32Array.
    let s0 = this.s[0], s1 = this.s[1], s2 = this.s[2], s3 = this.s[3];
    const span = high - low;
    for (let i = 0; i < out.length; i++) {
      let hi = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 5;
      let t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      const lo = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 6;
      t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      hi = hi * 67108864 + lo;
      out[i] = low + span * (hi * TWO_POW_M53);
    }
    this.s[0] = s0;
    this.s[1] = s1;
    this.s[2] = s2;
    this.s[3] = s3;
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`rng.int: bad range ${n}`);
    return Math.floor(this.next() * n);
  }

  normal(mean = 0, std = 1): number {
    if (this.hasSpare) {
      const z = this.spare;
      this.hasSpare = false;
      return mean + std * z;
    }
    const u1 = 1 - this.next(); // (0, 1], so log is finite
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    this.hasSpare = true;
    return mean + std * r * Math.cos(theta);
  }

  normalInto(out: FloatArray, mean = 0, std = 1): void {
    const spare = normalPairsInto((u) => this.uniformInto(u, 0, 1), out, mean, std, this.hasSpare ? this.spare : NaN);
    this.hasSpare = !Number.isNaN(spare);
    this.spare = this.hasSpare ? spare : 0;
  }

  fork(label: string): Rng {
    const child = Uint32Array.from(this.key);
    absorb(child, [FORK_TAG, ...labelWords(label)]);
    return new Xoshiro128ss(child);
  }

  clone(): Rng {
    return rngAt(this.state());
  }

  state(): RngState {
    return { key: [...this.key], s: [...this.s], spare: this.spare, hasSpare: this.hasSpare };
  }

  static at(st: RngState): Xoshiro128ss {
    const r = new Xoshiro128ss(Uint32Array.from(st.key));
    r.s.set(st.s);
    r.spare = st.spare;
    r.hasSpare = st.hasSpare;
    return r;
  }
}

/**
 * out[i] = Normal(mean, std) by Box–Muller, the numbers normal() hands out one by one: first a pending
 * sine (`spare`; NaN for none), then the cosine and the sine of each pair of uniforms, which
 * `uniform01` draws (it fills its array with the stream's next uniforms in [0, 1)) a chunk at a time
 * (a whole weight's worth would be a second copy of it). Returns the sine left pending (NaN for none).
 * Self-contained but for boxMullerPairs: their source also runs on the draw worker (draw-threads.ts).
 */
export function normalPairsInto(uniform01: (u: Float64Array) => void, out: FloatArray, mean: number, std: number, spare: number): number {
  let i = 0;
  if (out.length && !Number.isNaN(spare)) {
    out[i++] = mean + std * spare;
    spare = NaN;
  }
  const pairs = (out.length - i) >> 1;
  const u = new Float64Array(2 * Math.min(pairs, 4096)); // 4096 pairs a chunk (64 KiB)
  for (let p0 = 0; p0 < pairs; p0 += 4096) {
    const n = Math.min(4096, pairs - p0);
    const chunk = n === 4096 ? u : u.subarray(0, 2 * n);
    uniform01(chunk);
    boxMullerPairs(chunk, 0, out, i, n, mean, std);
    i += 2 * n;
  }
  if (i < out.length) {
    // an odd one out: normal() of a fresh pair, its sine kept for later
    const last = new Float64Array(2);
    uniform01(last);
    const r = Math.sqrt(-2 * Math.log(1 - last[0]));
    const theta = 2 * Math.PI * last[1];
    spare = r * Math.sin(theta);
    out[i] = mean + std * r * Math.cos(theta);
  }
  return spare;
}

/**
 * out[o + 2p], out[o + 2p + 1] = the cosine and the sine normal of the uniforms u[uo + 2p], u[uo + 2p + 1],
 * for p < pairs (normal()'s arithmetic). Self-contained: the draw worker runs its source (draw-threads.ts).
 */
export function boxMullerPairs(u: Float64Array, uo: number, out: FloatArray, o: number, pairs: number, mean: number, std: number): void {
  for (let p = 0; p < pairs; p++) {
    const u1 = 1 - u[uo + 2 * p];
    const u2 = u[uo + 2 * p + 1];
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    out[o + 2 * p] = mean + std * r * Math.cos(theta);
    out[o + 2 * p + 1] = mean + std * (r * Math.sin(theta));
  }
}

/** A generator for an integer seed (any safe integer, negative allowed). */
export function rng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new Error(`rng: seed must be a safe integer, got ${seed}`);
  const lo = seed >>> 0; // low 32 bits (two's complement for negatives)
  const hi = Math.floor(seed / 4294967296) >>> 0;
  const key = new Uint32Array(4);
  absorb(key, [lo, hi]);
  return new Xoshiro128ss(key);
}

/** The generator a state() describes: it draws what the original would from there on. */
export function rngAt(state: RngState): Rng {
  return Xoshiro128ss.at(state);
}
