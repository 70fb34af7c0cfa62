// Rng.uniformInto's loop in WebAssembly: xoshiro128** and the 53-bit double, the same integer and
// float64 operations in the same order (wasm has no fused multiply-add and rounds as JavaScript
// does), so the same numbers — about 3× faster than the JIT's loop (bench: ~10⁷ values per whole-model
// compile). The module is ~200 bytes, built with wasm-emit.ts (no toolchain); where WebAssembly is
// missing the JavaScript loop (rng.ts) runs instead.
//
// One exported function per element type, (n: i32, low: f64, span: f64) → (), reading the state from
// bytes 0..15 of its memory, writing n values from byte 64 on and the state back:
//   loop: hi = rotl(s1 * 5, 7) * 9 >>> 5; step; lo = rotl(s1 * 5, 7) * 9 >>> 6; step;
//         out[i] = low + span * ((f64(hi) * 2²⁶ + f64(lo)) * 2⁻⁵³)      (f32: demoted once, at the store)
//   step: t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11)

import { F64, I32, type Local, ModuleBuilder, V128 } from '../backends/wasm-emit.ts';

/** values per call: the memory holds the state and one chunk of float64s */
export const UNIFORM_CHUNK = 16384;
const OUT = 64; // byte offset of the values
const PAGES = 4; // 256 KiB ≥ 64 + 8 · UNIFORM_CHUNK

export interface UniformWasm {
  /** the state (4 words) and the values, as views of the module's memory */
  state: Uint32Array;
  f64: Float64Array;
  f32: Float32Array;
  fill64(n: number, low: number, span: number): void;
  fill32(n: number, low: number, span: number): void;
  /** fill32x4's four states (word k of stream j at 4k + j), lows and spans, and values (stream j at j · QUAD_CHUNK) */
  quadState: Uint32Array;
  quadLowSpan: Float64Array;
  quadValues: Float32Array;
  fill32x4(n: number): void;
}

/** fill64 / fill32: params n, low, span; the state in locals while the loop runs */
function fill(mb: ModuleBuilder, width: 8 | 4, exportName: string): void {
  mb.func([I32, F64, F64], [], (c) => {
    const [n, low, span] = [c.param(0), c.param(1), c.param(2)];
    const [s0, s1, s2, s3, p, end, hi, t] = Array.from({ length: 8 }, () => c.local(I32));
    const xorInto = (a: Local, b: Local) => c.get(a).get(b).i32Xor().set(a);
    /** rotl(s1 * 5, 7) * 9, on the stack */
    const scrambled = () => c.get(s1).i32(5).i32Mul().i32(7).i32Rotl().i32(9).i32Mul();
    const step = () => {
      c.get(s1).i32(9).i32Shl().set(t);
      xorInto(s2, s0), xorInto(s3, s1), xorInto(s1, s2), xorInto(s0, s3), xorInto(s2, t);
      c.get(s3).i32(11).i32Rotl().set(s3);
    };
    [s0, s1, s2, s3].forEach((s, k) => c.i32(0).i32Load(4 * k).set(s));
    c.i32(OUT).set(p);
    c.get(n).i32(width).i32Mul().i32(OUT).i32Add().set(end);
    c.block().loop();
    c.get(p).get(end).i32GeU().brIf(1);
    scrambled();
    c.i32(5).i32ShrU().set(hi);
    step();
    // address, then low + span * ((hi * 2^26 + lo) * 2^-53)
    c.get(p).get(low).get(span);
    c.get(hi).f64ConvertI32U().f64(67108864).f64Mul();
    scrambled();
    c.i32(6).i32ShrU().f64ConvertI32U().f64Add();
    c.f64(1 / 9007199254740992).f64Mul();
    c.f64Mul().f64Add();
    if (width === 8) c.f64Store();
    else c.f32DemoteF64().f32Store();
    step();
    c.get(p).i32(width).i32Add().set(p);
    c.br(0).end().end();
    [s0, s1, s2, s3].forEach((s, k) => c.i32(0).get(s).i32Store(4 * k));
  }, exportName);
}

/** float32 values per stream per call of fill32x4: four streams' chunks fill the values region */
export const QUAD_CHUNK = 8192;
/** byte offset of fill32x4's four states (word k of stream j at word 4k + j), then low and span (four f64 each) */
const QUAD_STATE = PAGES * 65536 - 256;

/**
 * fill32x4: (n) → (): four streams at once, one in each i32x4 lane, n values each — stream j's values
 * from byte 64 + 4·QUAD_CHUNK·j. Each lane runs fill32's operations in fill32's order (the f64 lanes
 * round as the scalar ones do), so each stream's numbers are fill32's.
 */
function fill4(mb: ModuleBuilder): void {
  mb.func([I32], [], (c) => {
    const n = c.param(0);
    const [s0, s1, s2, s3, t, hi, lo, d, low01, low23, span01, span23] = Array.from({ length: 12 }, () => c.local(V128));
    const [p, end] = [c.local(I32), c.local(I32)];
    const xorInto = (a: Local, b: Local) => c.get(a).get(b).v128Xor().set(a);
    /** rotl of each lane of local x by k, on the stack */
    const rotl = (x: Local, k: number) => c.get(x).i32(k).i32x4Shl().get(x).i32(32 - k).i32x4ShrU().v128Or();
    /** rotl(s1 * 5, 7) * 9 >>> shift, into local `into` */
    const scrambled = (shift: number, into: Local) => {
      c.get(s1).i32x4Const(5).i32x4Mul().set(t);
      rotl(t, 7).i32x4Const(9).i32x4Mul().i32(shift).i32x4ShrU().set(into);
    };
    const step = () => {
      c.get(s1).i32(9).i32x4Shl().set(t);
      xorInto(s2, s0), xorInto(s3, s1), xorInto(s1, s2), xorInto(s0, s3), xorInto(s2, t);
      rotl(s3, 11).set(s3);
    };
    /** lanes 2 and 3 of a local moved to lanes 0 and 1 (a shuffle of the local with itself) */
    const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
    /** low + span * ((hi * 2^26 + lo) * 2^-53) for lanes 0, 1 (high: 2, 3), demoted into d's lanes 0, 1 */
    const values = (low: Local, span: Local, high: boolean) => {
      const half = (x: Local) => (high ? c.get(x).get(x).i8x16Shuffle(HIGH_HALF) : c.get(x)).f64x2ConvertLowI32x4U();
      c.get(low).get(span);
      half(hi).f64x2Const(67108864).f64x2Mul();
      half(lo).f64x2Add();
      c.f64x2Const(1 / 9007199254740992).f64x2Mul();
      c.f64x2Mul().f64x2Add().f32x4DemoteF64x2Zero().set(d);
    };
    [s0, s1, s2, s3].forEach((s, k) => c.i32(0).v128Load(QUAD_STATE + 16 * k).set(s));
    [low01, low23, span01, span23].forEach((v, k) => c.i32(0).v128Load(QUAD_STATE + 64 + 16 * k).set(v));
    c.i32(0).set(p);
    c.get(n).i32(4).i32Mul().set(end);
    c.block().loop();
    c.get(p).get(end).i32GeU().brIf(1);
    scrambled(5, hi);
    step();
    scrambled(6, lo);
    step();
    values(low01, span01, false);
    for (const lane of [0, 1]) c.get(p).get(d).f32x4ExtractLane(lane).f32Store(OUT + 4 * QUAD_CHUNK * lane);
    values(low23, span23, true);
    for (const lane of [0, 1]) c.get(p).get(d).f32x4ExtractLane(lane).f32Store(OUT + 4 * QUAD_CHUNK * (2 + lane));
    c.get(p).i32(4).i32Add().set(p);
    c.br(0).end().end();
    [s0, s1, s2, s3].forEach((s, k) => c.i32(0).get(s).v128Store(QUAD_STATE + 16 * k));
  }, 'fill32x4');
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const mb = new ModuleBuilder({ module: 'env', name: 'mem', minPages: PAGES, maxPages: PAGES });
  fill(mb, 8, 'fill64');
  fill(mb, 4, 'fill32');
  fill4(mb);
  return mb.bytes();
}

/**
 * out[i] = the next uniform in [low, high) from xoshiro128** state s (advanced): the module a chunk at
 * a time, copied out. Self-contained (its source also runs on the draw worker, draw-threads.ts).
 */
export function uniformWasmInto(wasm: UniformWasm, s: Uint32Array, out: Float64Array | Float32Array, low: number, high: number): void {
  const span = high - low;
  const f32 = out instanceof Float32Array;
  const chunk = wasm.f64.length;
  wasm.state.set(s);
  for (let i = 0; i < out.length; i += chunk) {
    const n = Math.min(chunk, out.length - i);
    (f32 ? wasm.fill32 : wasm.fill64)(n, low, span);
    const values = f32 ? wasm.f32 : wasm.f64;
    out.set(n === chunk ? values : values.subarray(0, n), i);
  }
  s.set(wasm.state);
}

/** An instance of the module on a memory of its own, as views and functions. Self-contained (it also runs on the draw worker). */
export function uniformWasmOf(module: WebAssembly.Module): UniformWasm {
  const mem = new WebAssembly.Memory({ initial: 4, maximum: 4 }); // PAGES, never grown: the views stay valid
  const e = new WebAssembly.Instance(module, { env: { mem } }).exports as unknown as Pick<UniformWasm, 'fill64' | 'fill32' | 'fill32x4'>;
  const buf = mem.buffer;
  // the values start at byte 64, UNIFORM_CHUNK of them; fill32x4's states at QUAD_STATE = 4 · 65536 − 256
  // (literals: this source runs on its own elsewhere)
  return {
    state: new Uint32Array(buf, 0, 4),
    f64: new Float64Array(buf, 64, 16384),
    f32: new Float32Array(buf, 64, 16384),
    fill64: e.fill64,
    fill32: e.fill32,
    quadState: new Uint32Array(buf, 261888, 16),
    quadLowSpan: new Float64Array(buf, 261888 + 64, 8),
    quadValues: new Float32Array(buf, 64, 4 * 8192),
    fill32x4: e.fill32x4,
  };
}

/**
 * Four uniform draws at once, out[j][i] = the next uniform in [low[j], high[j]) from state s[j]
 * (advanced): fill32x4 over the length they share, the rest of each by fill32 — the numbers
 * uniformWasmInto gives each. Self-contained (it also runs on the draw worker).
 */
export function uniformWasmInto4(wasm: UniformWasm, s: Uint32Array[], out: Float32Array[], low: number[], high: number[]): void {
  const chunk = 8192; // QUAD_CHUNK
  const n = Math.min(out[0]!.length, out[1]!.length, out[2]!.length, out[3]!.length);
  for (let j = 0; j < 4; j++) {
    for (let k = 0; k < 4; k++) wasm.quadState[4 * k + j] = s[j]![k]!;
    wasm.quadLowSpan[j] = low[j]!;
    wasm.quadLowSpan[4 + j] = high[j]! - low[j]!;
  }
  for (let i = 0; i < n; i += chunk) {
    const m = Math.min(chunk, n - i);
    wasm.fill32x4(m);
    for (let j = 0; j < 4; j++) out[j]!.set(wasm.quadValues.subarray(j * chunk, j * chunk + m), i);
  }
  for (let j = 0; j < 4; j++) {
    for (let k = 0; k < 4; k++) s[j]![k] = wasm.quadState[4 * k + j]!;
    if (out[j]!.length > n) uniformWasmInto(wasm, s[j]!, out[j]!.subarray(n), low[j]!, high[j]!);
  }
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled module (null where WebAssembly is missing): a worker instantiates it too. */
export function uniformWasmModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    compiled = new WebAssembly.Module(moduleBytes());
  } catch {
    compiled = null;
  }
  return compiled;
}

let instance: UniformWasm | null | undefined;

/** The module, instantiated on first use; null where WebAssembly is missing (the JS loop runs then). */
export function uniformWasm(): UniformWasm | null {
  if (instance !== undefined) return instance;
  const module = uniformWasmModule();
  instance = module ? uniformWasmOf(module) : null;
  return instance;
}
