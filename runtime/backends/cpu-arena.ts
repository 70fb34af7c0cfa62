// Blocks of a gemm engine's WebAssembly memory for executables' buffers, reused across executables:
// WasmGemm.allocF32 is a bump allocator that never frees, so without this every prepare() of a
// long-running process (tests, `lily verify` over many programs) would leak its buffers for good.
// A released block goes on a free list and the next request takes the smallest free block that
// fits (best fit; blocks are never split or merged, so waste is bounded by the largest plan).
import type { WasmGemm } from './cpu-gemm.ts';

export class CpuArena {
  private readonly free: Float32Array[] = [];
  constructor(private readonly engine: WasmGemm) {}

  /** a block of at least n floats inside the engine's memory (contents unspecified) */
  acquire(n: number): Float32Array {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.length >= n && (best < 0 || b.length < this.free[best]!.length)) best = i;
    }
    if (best >= 0) return this.free.splice(best, 1)[0]!;
    return this.engine.allocF32(Math.max(n, 16));
  }

  release(block: Float32Array): void {
    if (!this.free.includes(block)) this.free.push(block);
  }

  /** floats held on the free list (for tests) */
  get freeFloats(): number {
    return this.free.reduce((s, b) => s + b.length, 0);
  }
}

const arenas = new WeakMap<WasmGemm, CpuArena>();

export function arenaOf(engine: WasmGemm): CpuArena {
  let a = arenas.get(engine);
  if (!a) {
    a = new CpuArena(engine);
    arenas.set(engine, a);
  }
  return a;
}
