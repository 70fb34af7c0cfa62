import { describe, expect, it } from 'vitest';
import { F32, I32, ModuleBuilder, sleb, uleb } from './wasm-emit.ts';
import { buildGemmWasm } from './wasm-gemm-kernel.ts';

describe('wasm emitter', () => {
  it('encodes LEB128', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
  });

  it('builds a module that validates and runs (scalar + SIMD)', () => {
    const mb = new ModuleBuilder({ module: 'env', name: 'mem', minPages: 1, maxPages: 1, shared: true });
    // dot4(p) = sum of the 4 lanes of f32x4 load(p) * splat(2)
    mb.func([I32], [F32], (c) => {
      const p = c.param(0);
      const v = c.local(0x7b);
      c.get(p).v128Load().f32(2).f32x4Splat().f32x4Mul().set(v);
      c.get(v).f32x4ExtractLane(0).get(v).f32x4ExtractLane(1).f32Add();
      c.get(v).f32x4ExtractLane(2).get(v).f32x4ExtractLane(3).f32Add().f32Add();
    }, 'dot4');
    const bytes = mb.bytes();
    expect(WebAssembly.validate(bytes)).toBe(true);
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    new Float32Array(mem.buffer).set([1, 2, 3, 4], 4);
    const { dot4 } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem } }).exports as { dot4: (p: number) => number };
    expect(dot4(16)).toBe(20);
  });

  it('every GEMM kernel configuration validates', () => {
    for (const MR of [1, 2, 3, 4, 5, 6]) for (const NR of [4, 8, 12, 16]) for (const U of [1, 2, 4]) {
      expect(WebAssembly.validate(buildGemmWasm({ MR, NR, U }, 64)), `${MR}x${NR} U${U}`).toBe(true);
    }
  });
});
