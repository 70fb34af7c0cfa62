/**
 * A tiny WebAssembly binary emitter: just enough (i32/f32 scalar ops, the
 * f32x4 subset of SIMD, structured control flow, one imported memory) to
 * generate GEMM kernels at load time without shipping or downloading a
 * toolchain. Byte layouts follow the WebAssembly core spec 2.0 + SIMD.
 *
 * Usage: build function bodies with `Code` (fluent, one method per
 * instruction), register them on a `ModuleBuilder`, call `bytes()`.
 */

export const I32 = 0x7f;
export const I64 = 0x7e;
export const F32 = 0x7d;
export const F64 = 0x7c;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof I64 | typeof F32 | typeof F64 | typeof V128;

export function uleb(n: number, out: number[] = []): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`uleb: bad value ${n}`);
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function sleb(n: number, out: number[] = []): number[] {
  if (!Number.isInteger(n)) throw new Error(`sleb: bad value ${n}`);
  for (;;) {
    const b = n & 0x7f;
    n = Math.floor(n / 128);
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const UTF8 = new TextEncoder();
function str(s: string): number[] {
  const b = [...UTF8.encode(s)];
  return [...uleb(b.length), ...b];
}

/** arrays joined by loops (spreading large arrays into literals or calls is slow, or overflows the stack) */
function concat(parts: readonly ArrayLike<number>[]): number[] {
  const out: number[] = [];
  for (const p of parts) for (let i = 0; i < p.length; i++) out.push(p[i]!);
  return out;
}

const length = (parts: readonly ArrayLike<number>[]) => parts.reduce((n, p) => n + p.length, 0);

/** parts joined into bytes, each copied once (Uint8Array.set: values taken mod 256, as new Uint8Array(array) does) */
function join(parts: readonly ArrayLike<number>[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length(parts));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function vec(items: number[][]): number[] {
  return concat([uleb(items.length), ...items]);
}

// scratch for the bytes of immediate constants (little-endian, as typed arrays are on every wasm host)
const F32_BITS = new Float32Array(1), F32_BYTES = new Uint8Array(F32_BITS.buffer);
const F64_BITS = new Float64Array(1), F64_BYTES = new Uint8Array(F64_BITS.buffer);
const F32X4_BITS = new Float32Array(4), F32X4_BYTES = new Uint8Array(F32X4_BITS.buffer);
const I32X4_BITS = new Int32Array(4), I32X4_BYTES = new Uint8Array(I32X4_BITS.buffer);
const F64X2_BITS = new Float64Array(2), F64X2_BYTES = new Uint8Array(F64X2_BITS.buffer);
const ZERO_128 = new Uint8Array(16);

/** A local variable handle (index into params + declared locals). */
export type Local = number & { readonly __local: true };

/** Instruction stream of one function body. Methods return `this`. */
export class Code {
  readonly bytes: number[] = [];
  private readonly localTypes: ValType[] = [];
  constructor(readonly params: readonly ValType[]) {}

  /** parameter handle */
  param(i: number): Local {
    if (i < 0 || i >= this.params.length) throw new Error(`no param ${i}`);
    return i as Local;
  }
  /** declare a new local */
  local(t: ValType): Local {
    this.localTypes.push(t);
    return (this.params.length + this.localTypes.length - 1) as Local;
  }

  // Encoders push straight into `bytes` (no argument or immediate arrays: a plan's wasm loops
  // module is rendered at every compile, and its garbage was most of the render's time).
  /** one byte */
  private op(b: number): this {
    this.bytes.push(b);
    return this;
  }
  /** an opcode with an unsigned LEB128 immediate */
  private opU(b: number, n: number): this {
    this.bytes.push(b);
    uleb(n, this.bytes);
    return this;
  }
  /** bytes as they are */
  private raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i]!);
    return this;
  }
  private simd(opcode: number): this {
    this.bytes.push(0xfd);
    uleb(opcode, this.bytes);
    return this;
  }
  /** the memarg immediates of a load or store */
  private memarg(alignLog2: number, offset: number): this {
    uleb(alignLog2, this.bytes);
    uleb(offset, this.bytes);
    return this;
  }

  // control
  block(): this { return this.op(0x02).op(0x40); }
  loop(): this { return this.op(0x03).op(0x40); }
  if_(): this { return this.op(0x04).op(0x40); }
  else_(): this { return this.op(0x05); }
  end(): this { return this.op(0x0b); }
  br(depth: number): this { return this.opU(0x0c, depth); }
  brIf(depth: number): this { return this.opU(0x0d, depth); }
  return_(): this { return this.op(0x0f); }
  call(fn: number): this { return this.opU(0x10, fn); }
  drop(): this { return this.op(0x1a); }
  /** select: [a, b, cond] -> cond ? a : b */
  select(): this { return this.op(0x1b); }

  // locals
  get(l: Local): this { return this.opU(0x20, l); }
  set(l: Local): this { return this.opU(0x21, l); }
  tee(l: Local): this { return this.opU(0x22, l); }

  // i32
  i32(n: number): this {
    this.bytes.push(0x41);
    sleb(n | 0, this.bytes);
    return this;
  }
  i32Eqz(): this { return this.op(0x45); }
  i32Eq(): this { return this.op(0x46); }
  i32Ne(): this { return this.op(0x47); }
  i32LtS(): this { return this.op(0x48); }
  i32GtS(): this { return this.op(0x4a); }
  i32LeS(): this { return this.op(0x4c); }
  i32GeS(): this { return this.op(0x4e); }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32Mul(): this { return this.op(0x6c); }
  i32Shl(): this { return this.op(0x74); }
  i32Or(): this { return this.op(0x72); }
  i32And(): this { return this.op(0x71); }
  i32Load(offset = 0): this { return this.op(0x28).memarg(2, offset); }
  i32Store(offset = 0): this { return this.op(0x36).memarg(2, offset); }
  i32GtU(): this { return this.op(0x4b); }
  i32GeU(): this { return this.op(0x4f); }
  i32Xor(): this { return this.op(0x73); }
  i32ShrU(): this { return this.op(0x76); }
  i32Rotl(): this { return this.op(0x77); }

  // f32
  f32(x: number): this {
    F32_BITS[0] = x;
    return this.op(0x43).raw(F32_BYTES);
  }
  f32Load(offset = 0): this { return this.op(0x2a).memarg(2, offset); }
  f32Store(offset = 0): this { return this.op(0x38).memarg(2, offset); }
  f32Add(): this { return this.op(0x92); }
  f32Sub(): this { return this.op(0x93); }
  f32Mul(): this { return this.op(0x94); }
  f32Div(): this { return this.op(0x95); }
  f32Min(): this { return this.op(0x96); }
  f32Max(): this { return this.op(0x97); }
  f32Gt(): this { return this.op(0x5e); }

  // f64
  f64(x: number): this {
    F64_BITS[0] = x;
    return this.op(0x44).raw(F64_BYTES);
  }
  f64Load(offset = 0): this { return this.op(0x2b).memarg(3, offset); }
  f64Store(offset = 0): this { return this.op(0x39).memarg(3, offset); }
  f64Add(): this { return this.op(0xa0); }
  f64Sub(): this { return this.op(0xa1); }
  f64Mul(): this { return this.op(0xa2); }
  f64Div(): this { return this.op(0xa3); }
  f64Sqrt(): this { return this.op(0x9f); }
  f32DemoteF64(): this { return this.op(0xb6); }
  f64ConvertI32U(): this { return this.op(0xb8); }
  f64Ne(): this { return this.op(0x62); }
  f64Eq(): this { return this.op(0x61); }
  f64Lt(): this { return this.op(0x63); }
  f64Gt(): this { return this.op(0x64); }
  f64Le(): this { return this.op(0x65); }
  f64Abs(): this { return this.op(0x99); }
  f64Neg(): this { return this.op(0x9a); }
  f64Max(): this { return this.op(0xa5); }

  // SIMD (opcodes from the SIMD proposal, merged in core 2.0)
  f64x2Splat(): this { return this.simd(0x14); }
  f64x2ExtractLane(lane: number): this { return this.simd(0x21).op(lane); }
  f64x2Add(): this { return this.simd(0xf0); }
  f64x2Sub(): this { return this.simd(0xf1); }
  f64x2Mul(): this { return this.simd(0xf2); }
  v128Load(offset = 0, alignLog2 = 4): this { return this.simd(0x00).memarg(alignLog2, offset); }
  v128Load32Splat(offset = 0): this { return this.simd(0x09).memarg(2, offset); }
  /** [address, v128] -> the v128 with lane `lane` loaded from address + offset */
  v128Load32Lane(offset: number, lane: number): this { return this.simd(0x56).memarg(2, offset).op(lane); }
  v128Store(offset = 0, alignLog2 = 4): this { return this.simd(0x0b).memarg(alignLog2, offset); }
  v128Zero(): this { return this.simd(0x0c).raw(ZERO_128); }
  f32x4Splat(): this { return this.simd(0x13); }
  f32x4ExtractLane(lane: number): this { return this.simd(0x1f).op(lane); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f32x4Div(): this { return this.simd(0xe7); }
  /** IEEE 754-2019 minimum / maximum: NaN propagates, −0 < +0 (Math.min / Math.max) */
  f32x4Min(): this { return this.simd(0xe8); }
  f32x4Max(): this { return this.simd(0xe9); }
  /** pseudo-maximum: b > a ? b : a (NaN in b gives a) */
  f32x4Pmax(): this { return this.simd(0xeb); }
  /** pseudo-minimum: b < a ? b : a (NaN in b gives a) */
  f32x4Pmin(): this { return this.simd(0xea); }
  f32x4Abs(): this { return this.simd(0xe0); }
  f32x4Neg(): this { return this.simd(0xe1); }
  f32x4Sqrt(): this { return this.simd(0xe3); }
  f32x4Floor(): this { return this.simd(0x68); }
  f32x4Nearest(): this { return this.simd(0x6a); }
  f32x4Eq(): this { return this.simd(0x41); }
  f32x4Ne(): this { return this.simd(0x42); }
  f32x4Lt(): this { return this.simd(0x43); }
  f32x4Gt(): this { return this.simd(0x44); }
  /** v128.const with four equal f32 lanes */
  f32x4Const(x: number): this {
    F32X4_BITS.fill(x);
    return this.simd(0x0c).raw(F32X4_BYTES);
  }
  /** v128.const with four equal i32 lanes */
  i32x4Const(n: number): this {
    I32X4_BITS.fill(n);
    return this.simd(0x0c).raw(I32X4_BYTES);
  }
  v128And(): this { return this.simd(0x4e); }
  v128Or(): this { return this.simd(0x50); }
  /** [a, b, mask] -> (a & mask) | (b & ~mask) */
  v128Bitselect(): this { return this.simd(0x52); }
  i32x4Add(): this { return this.simd(0xae); }
  i32x4Sub(): this { return this.simd(0xb1); }
  i32x4Shl(): this { return this.simd(0xab); }
  i32x4ShrS(): this { return this.simd(0xac); }
  i32x4ShrU(): this { return this.simd(0xad); }
  i32x4Mul(): this { return this.simd(0xb5); }
  v128Xor(): this { return this.simd(0x51); }
  /** a byte shuffle of two v128s: lane i of the result is byte lanes[i] of a ‖ b */
  i8x16Shuffle(lanes: readonly number[]): this { return this.simd(0x0d).raw(lanes); }
  /** the low two u32 lanes, as f64 (exact) */
  f64x2ConvertLowI32x4U(): this { return this.simd(0xff); }
  /** two f64 lanes rounded to f32 into the low lanes, the high ones 0 */
  f32x4DemoteF64x2Zero(): this { return this.simd(0x5e); }
  /** v128.const with two equal f64 lanes */
  f64x2Const(x: number): this {
    F64X2_BITS.fill(x);
    return this.simd(0x0c).raw(F64X2_BYTES);
  }
  i32x4TruncSatF32x4S(): this { return this.simd(0xf8); }
  f32x4ConvertI32x4S(): this { return this.simd(0xfa); }
  /** relaxed-simd f32x4.relaxed_madd (a*b+c); only valid where relaxed SIMD is enabled */
  f32x4RelaxedMadd(): this { return this.simd(0x105); }

  /** encoded body: locals (run-length grouped) + code + end */
  encode(): number[] {
    return concat(this.encodeParts());
  }

  /** encode() as the parts it is made of (ModuleBuilder.bytes copies each once) */
  encodeParts(): ArrayLike<number>[] {
    const groups: number[][] = [];
    for (let i = 0; i < this.localTypes.length; ) {
      let j = i;
      while (j < this.localTypes.length && this.localTypes[j] === this.localTypes[i]) j++;
      groups.push([...uleb(j - i), this.localTypes[i]!]);
      i = j;
    }
    const head = vec(groups);
    return [uleb(head.length + this.bytes.length + 1), head, this.bytes, [0x0b]];
  }
}

interface FuncDef {
  params: ValType[];
  results: ValType[];
  code: Code;
  exportName?: string;
}

export interface MemoryImport {
  module: string;
  name: string;
  minPages: number;
  maxPages?: number;
  shared?: boolean;
}

/** A function the module imports (e.g. Math.pow, which V8 calls directly from wasm). */
export interface FuncImport {
  module: string;
  name: string;
  params: ValType[];
  results: ValType[];
}

export class ModuleBuilder {
  private readonly funcs: FuncDef[] = [];
  /** imported functions take the first function indices, in this order */
  constructor(private readonly memory: MemoryImport, private readonly funcImports: readonly FuncImport[] = []) {}

  /** add a function; returns its index (for `call`) */
  func(params: ValType[], results: ValType[], build: (c: Code) => void, exportName?: string): number {
    const code = new Code(params);
    build(code);
    this.funcs.push({ params, results, code, ...(exportName ? { exportName } : {}) });
    return this.funcImports.length + this.funcs.length - 1;
  }

  /** add a function whose body was built separately (a Code made with the same params) */
  add(code: Code, results: ValType[], exportName?: string): number {
    this.funcs.push({ params: [...code.params], results, code, ...(exportName ? { exportName } : {}) });
    return this.funcImports.length + this.funcs.length - 1;
  }

  /** reserve an index now, fill the body later (for mutual references) */
  declare(params: ValType[], results: ValType[], exportName?: string): { index: number; code: Code } {
    const code = new Code(params);
    this.funcs.push({ params, results, code, ...(exportName ? { exportName } : {}) });
    return { index: this.funcImports.length + this.funcs.length - 1, code };
  }

  bytes(): Uint8Array<ArrayBuffer> {
    const section = (id: number, payload: ArrayLike<number>[]) => [[id], uleb(length(payload)), ...payload];
    const fi = this.funcImports;
    const sig = (f: { params: ValType[]; results: ValType[] }) => [0x60, ...vec(f.params.map((p) => [p])), ...vec(f.results.map((r) => [r]))];
    // one type per function, imports first: type i belongs to function i
    const types = [...fi.map(sig), ...this.funcs.map(sig)];
    const m = this.memory;
    const limits =
      m.maxPages === undefined ? [0x00, ...uleb(m.minPages)] : [m.shared ? 0x03 : 0x01, ...uleb(m.minPages), ...uleb(m.maxPages)];
    const imports = vec([...fi.map((f, i) => [...str(f.module), ...str(f.name), 0x00, ...uleb(i)]), [...str(m.module), ...str(m.name), 0x02, ...limits]]);
    const funcsec = vec(this.funcs.map((_, i) => uleb(fi.length + i)));
    const exps = this.funcs.flatMap((f, i) => (f.exportName ? [[...str(f.exportName), 0x00, ...uleb(fi.length + i)]] : []));
    // the code section (most of the module) as parts: every function body copied once, into the result
    const code = [uleb(this.funcs.length), ...this.funcs.flatMap((f) => f.code.encodeParts())];
    return join([
      [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      ...section(1, [vec(types)]),
      ...section(2, [imports]),
      ...section(3, [funcsec]),
      ...section(7, [vec(exps)]),
      ...section(10, code),
    ]);
  }
}

/**
 * A module on an imported memory (`env.mem`) whose functions `define` adds, built and compiled at its
 * first call and kept for the process; null where WebAssembly, or an instruction the module uses (SIMD),
 * is missing — the caller then keeps its JavaScript path.
 */
export function lazyModule(define: (mb: ModuleBuilder) => void, memory: { shared?: boolean } = {}): () => WebAssembly.Module | null {
  let built: WebAssembly.Module | null | undefined;
  return () => {
    if (built !== undefined) return built;
    if (typeof WebAssembly === 'undefined') return (built = null);
    if (memory.shared && typeof SharedArrayBuffer === 'undefined') return (built = null);
    const mb = new ModuleBuilder({ module: 'env', name: 'mem', minPages: 1, ...(memory.shared ? { maxPages: SHARED_MAX_PAGES, shared: true } : {}) });
    define(mb);
    const bytes = mb.bytes();
    return (built = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null);
  };
}

/** the most 64 KiB pages a module on a shared memory accepts (each memory's own maximum is its size) */
const SHARED_MAX_PAGES = 65536;

/**
 * A shared memory (worker threads can use it) of at least `bytes` bytes and a page to spare, its
 * maximum its size (a shared memory reserves its maximum); null without SharedArrayBuffer.
 */
export function sharedMemoryFor(bytes: number): WebAssembly.Memory | null {
  const pages = Math.ceil(bytes / 65536) + 1;
  if (typeof SharedArrayBuffer === 'undefined' || pages > SHARED_MAX_PAGES) return null;
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return null;
  }
}

/** A memory of at least `bytes` bytes (and a page to spare). */
export const memoryFor = (bytes: number) => new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) + 1 });

/** Grows a kept memory to hold `bytes`; false where it cannot (beyond what a wasm memory can hold). */
export function growTo(memory: WebAssembly.Memory, bytes: number): boolean {
  if (memory.buffer.byteLength >= bytes) return true;
  try {
    memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
    return true;
  } catch {
    return false;
  }
}
