// After warm-up, a training step on the CPU backend (OpenBLAS gemm, or loops where the binding is not
// built) allocates (almost) nothing: every buffer is allocated at prepare(), inputs are copied into
// the leaves, the assigns are prepared once. What remains is V8 boxing a few double scalars in the
// once-per-step host code (the optimizer's step arguments, the returned loss).
//
// "Warm" takes V8 optimising every kernel: until then a kernel runs in the interpreter, which boxes
// every double it computes (allocates). A kernel run once per step on little data (an adapter's
// parameter update) is optimised only after tens to hundreds of steps; kernels of the same form (the
// blocks of a model) share one function (compiler/codegen/cpu-loops.ts), so they warm up together.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.ts';
import { bytesPerStep } from './alloc-probe.ts';
import { cpuBackend } from './backends/cpu-exec.ts';
import { loadNativeBlas } from './backends/native-blas.ts';
import { compileTraining } from './train.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const lily = checkSource(readFileSync(new URL('../stdlib/adapters/lily.lily', import.meta.url), 'utf8'), 'lily.lily');

describe('training step allocations', () => {
  it(`a warm CPU step allocates under 1 KB (its buffers: ${(256 * 64 * 4 * 12) / 1024} KB and more)`, async () => {
    const blas = loadNativeBlas().ok ? 'native' : 'wasm';
    // without the native binding, the loops-only CPU path (the wasm gemm allocates its bookkeeping)
    const backend = blas === 'native' ? cpuBackend({ blas }) : cpuBackend({ gemm: false });
    const tr = await compileTraining(lily, 'Lily', { dims: { N: 256, In: 64, Out: 64, r: 4, E: 4 }, backend, params: 'random' });
    const x = new Float32Array(256 * 64).fill(0.5), t = new Float32Array(256 * 64).fill(0.1);
    for (let i = 0; i < 300; i++) tr.stepSync!({ x, t }); // warm: V8 has optimised every kernel
    // the least of three windows: V8's own late work (optimising, feedback) lands in one window, not all
    const windows: number[] = [];
    for (let i = 0; i < 3; i++) {
      const b = await bytesPerStep(() => tr.stepSync!({ x, t }), 40);
      if (b !== null) windows.push(b);
    }
    expect(windows.length, 'every measuring window saw a GC').toBeGreaterThan(0);
    expect(Math.min(...windows)).toBeLessThan(1024);
    tr.dispose();
  });

  // The generated JS kernels (loops: 'js'; the fallback where WebAssembly SIMD is missing) and the
  // default, WebAssembly loops kernels around the same JS host code.
  it.each(['js', 'wasm'] as const)('a many-block model (ViT-like encoder, 6 blocks) allocates under 1 KB a step after 80 steps (%s loops kernels)', async (loops) => {
    // tiny sizes: ~650 kernels, each a few dozen values, so nothing is hot enough for V8 on its own;
    // with one JS function per kernel (buffer ids in the source), the JS run allocated 40–310 KB a step here.
    const file = new URL('../bench/model/vit-small.lily', import.meta.url);
    const checked = checkSource(readFileSync(file, 'utf8'), file.pathname);
    const dims = { Bt: 1, T: 9, D: 32, heads: 2, F: 64, L: 6 };
    const blas = loadNativeBlas().ok ? 'native' : 'wasm';
    const backend = blas === 'native' ? cpuBackend({ blas, loops }) : cpuBackend({ gemm: false, loops });
    const tr = await compileTraining(checked, 'ViTLily', { dims, backend });
    const n = dims.Bt * dims.T * dims.D;
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i)), t = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
    for (let i = 0; i < 80; i++) tr.stepSync!({ x, t });
    // five windows; one freeing memory outside the step (negative) says nothing, one with V8's late work is the outlier
    const windows: number[] = [];
    for (let i = 0; i < 5; i++) {
      const b = await bytesPerStep(() => tr.stepSync!({ x, t }), 4);
      if (b !== null && b >= 0) windows.push(b);
    }
    expect(windows.length, `too few clean measuring windows: ${windows}`).toBeGreaterThanOrEqual(3);
    expect(median(windows), `bytes per step in each window: ${windows.map((b) => b.toFixed(0))}`).toBeLessThan(1024);
    tr.dispose();
  }, 60_000);
});

