// Rng.uniformInto's loop in WebAssembly: xoshiro128** and the 53-bit double, the same integer and
// float64 operations in the same order (wasm has no fused multiply-add and rounds as JavaScript
// does), so the same numbers — about 3× faster than the JIT's loop (bench: ~10⁷ values per whole-model
// compile). The module is 200 bytes, assembled here (no toolchain); where WebAssembly is missing the
// JavaScript loop (rng.ts) runs instead.
//
// One exported function per element type, (n: i32, low: f64, span: f64) → (), reading the state from
// bytes 0..15 of its memory, writing n values from byte 64 on and the state back:
//   loop: hi = rotl(s1 * 5, 7) * 9 >>> 5; step; lo = rotl(s1 * 5, 7) * 9 >>> 6; step;
//         out[i] = low + span * ((f64(hi) * 2²⁶ + f64(lo)) * 2⁻⁵³)      (f32: demoted once, at the store)
//   step: t = s1 << 9; s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 11)

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
}

// opcodes (WebAssembly core spec)
const [BLOCK, LOOP, END, BR, BR_IF, GET, SET, TEE] = [0x02, 0x03, 0x0b, 0x0c, 0x0d, 0x20, 0x21, 0x22];
const [I32_LOAD, I32_STORE, F32_STORE, F64_STORE, I32_CONST, F64_CONST] = [0x28, 0x36, 0x38, 0x39, 0x41, 0x44];
const [I32_GE_U, I32_ADD, I32_MUL, I32_XOR, I32_SHL, I32_SHR_U, I32_ROTL] = [0x4f, 0x6a, 0x6c, 0x73, 0x74, 0x76, 0x77];
const [F64_ADD, F64_MUL, F32_DEMOTE_F64, F64_CONVERT_I32_U] = [0xa0, 0xa2, 0xb6, 0xb8];
const I32 = 0x7f, F64 = 0x7c;

const f64Bytes = (x: number) => [...new Uint8Array(Float64Array.of(x).buffer)];
const leb = (n: number) => {
  // signed LEB128 of a small i32 constant
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return out.push(b), out;
    out.push(b | 0x80);
  }
};
const uleb = (n: number) => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, payload: number[]) => [id, ...uleb(payload.length), ...payload];
const name = (s: string) => [s.length, ...[...s].map((c) => c.charCodeAt(0))];

/** the body of fill64 / fill32: params n, low, span; locals s0..s3, p, end, hi, t */
function body(width: 8 | 4): number[] {
  const [n, low, span, s0, s1, s2, s3, p, end, hi, t] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const get = (l: number) => [GET, l];
  const set = (l: number) => [SET, l];
  const i32 = (k: number) => [I32_CONST, ...leb(k)];
  const xorInto = (a: number, b: number) => [...get(a), ...get(b), I32_XOR, ...set(a)];
  /** rotl(s1 * 5, 7) * 9, on the stack */
  const scrambled = [...get(s1), ...i32(5), I32_MUL, ...i32(7), I32_ROTL, ...i32(9), I32_MUL];
  const step = [...get(s1), ...i32(9), I32_SHL, ...set(t), ...xorInto(s2, s0), ...xorInto(s3, s1), ...xorInto(s1, s2), ...xorInto(s0, s3), ...xorInto(s2, t), ...get(s3), ...i32(11), I32_ROTL, ...set(s3)];
  const mem = (align: number, offset: number) => [align, ...uleb(offset)];
  const code = [
    ...[s0, s1, s2, s3].flatMap((s, k) => [...i32(0), I32_LOAD, ...mem(2, 4 * k), ...set(s)]),
    ...i32(OUT), ...set(p),
    ...get(n), ...i32(width), I32_MUL, ...i32(OUT), I32_ADD, ...set(end),
    BLOCK, 0x40, LOOP, 0x40,
    ...get(p), ...get(end), I32_GE_U, BR_IF, 1,
    ...scrambled, ...i32(5), I32_SHR_U, ...set(hi), ...step,
    // address, then low + span * ((hi * 2^26 + lo) * 2^-53)
    ...get(p),
    ...get(low), ...get(span),
    ...get(hi), F64_CONVERT_I32_U, F64_CONST, ...f64Bytes(67108864), F64_MUL,
    ...scrambled, ...i32(6), I32_SHR_U, F64_CONVERT_I32_U, F64_ADD,
    F64_CONST, ...f64Bytes(1 / 9007199254740992), F64_MUL,
    F64_MUL, F64_ADD,
    ...(width === 8 ? [F64_STORE, ...mem(3, 0)] : [F32_DEMOTE_F64, F32_STORE, ...mem(2, 0)]),
    ...step,
    ...get(p), ...i32(width), I32_ADD, ...set(p),
    BR, 0, END, END,
    ...[s0, s1, s2, s3].flatMap((s, k) => [...i32(0), ...get(s), I32_STORE, ...mem(2, 4 * k)]),
    END,
  ];
  const locals = vec([[...uleb(8), I32]]); // s0..s3, p, end, hi, t
  const fn = [...locals, ...code];
  return [...uleb(fn.length), ...fn];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const type = [0x60, ...vec([[I32], [F64], [F64]]), 0x00];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([type])),
    ...section(3, vec([[0], [0]])),
    ...section(5, vec([[0x00, ...uleb(PAGES)]])),
    ...section(7, vec([[...name('fill64'), 0x00, 0], [...name('fill32'), 0x00, 1], [...name('memory'), 0x02, 0]])),
    ...section(10, vec([body(8), body(4)])),
  ]);
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

/** The views and functions of an instance of the module. Self-contained (it also runs on the draw worker). */
export function uniformWasmOf(wasm: WebAssembly.Instance): UniformWasm {
  const e = wasm.exports as unknown as { fill64: UniformWasm['fill64']; fill32: UniformWasm['fill32']; memory: WebAssembly.Memory };
  const buf = e.memory.buffer; // never grown: the views stay valid
  // the values start at byte 64, UNIFORM_CHUNK of them (literals: this source runs on its own elsewhere)
  return { state: new Uint32Array(buf, 0, 4), f64: new Float64Array(buf, 64, 16384), f32: new Float32Array(buf, 64, 16384), fill64: e.fill64, fill32: e.fill32 };
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
  instance = module ? uniformWasmOf(new WebAssembly.Instance(module, {})) : null;
  return instance;
}
