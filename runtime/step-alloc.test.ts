// A training step on the CPU backend (OpenBLAS gemm, or loops where the binding is not built)
// allocates nothing once warm: every buffer is allocated at prepare(), inputs are copied into the
// leaves, the loss into a float array rather than returned (a JS number would be a 16-byte heap object
// each step), the assigns are prepared once, and no double is computed in the once-a-step host code — V8 runs that code in its
// interpreter, which boxes every double (an allocation each), for hundreds of steps before optimising
// it. So the optimiser's scalars are a wasm function (runtime/backends/wasm-step-scalars.ts), every
// loops kernel is wasm (a scalar rendering where nothing vectorises), and the two-thread split's
// chunking is worked out once per kernel.
//
// The generated JS kernels (loops: 'js', the fallback where WebAssembly SIMD is missing) are different:
// until V8 optimises a kernel it boxes every double it computes; kernels of the same form (the blocks
// of a model) share one function (compiler/codegen/cpu-loops.ts), so they warm up together.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.ts';
import { bytesPerStep } from './alloc-probe.ts';
import { cpuBackend } from './backends/cpu-exec.ts';
import { loadNativeBlas } from './backends/native-blas.ts';
import { compileTraining } from './train.ts';

const within = (windows: number[], bound: number) => windows.filter((b) => b >= 0 && b <= bound).length;

/**
 * Windows until two read within the bound, at most fifteen tries. V8's own late work (optimised code and
 * feedback installed on the measured heap while it tiers up the step's host code, its sweeper
 * finishing) lands in some windows, more of them under load; a step that really allocates reads above
 * the bound in every window, so fifteen never give two.
 */
async function stepBytes(step: () => unknown, calls: number, bound: number): Promise<number[]> {
  const windows: number[] = [];
  for (let i = 0; i < 15 && within(windows, bound) < 2; i++) {
    const b = await bytesPerStep(step, calls); // null: a GC in every try
    if (b !== null) windows.push(b);
  }
  return windows;
}

const lily = checkSource(readFileSync(new URL('../stdlib/adapters/lily.lily', import.meta.url), 'utf8'), 'lily.lily');

describe('training step allocations', () => {
  it('a warm CPU step allocates nothing, and its loss is readable after it', async () => {
    const blas = loadNativeBlas().ok ? 'native' : 'wasm';
    // without the native binding, the loops-only CPU path (the wasm gemm allocates its bookkeeping)
    const backend = blas === 'native' ? cpuBackend({ blas }) : cpuBackend({ gemm: false });
    const tr = await compileTraining(lily, 'Lily', { dims: { N: 256, In: 64, Out: 64, r: 4, E: 4 }, backend, params: 'random' });
    const batch = { x: new Float32Array(256 * 64).fill(0.5), t: new Float32Array(256 * 64).fill(0.1) };
    // warm: V8's optimising of the host code, installed on the measured heap, is over (the step itself
    // allocates nothing from its second step, optimised or not; under load V8's background threads lag)
    for (let i = 0; i < 60; i++) tr.stepSync!(batch);
    const windows = await stepBytes(() => tr.stepSync!(batch), 10, 0);
    expect(within(windows, 0), `bytes per step in each window: ${windows}`).toBeGreaterThanOrEqual(2);
    // the loss lastLoss() reads is the step's: the same as evaluate() on the parameters before it
    const before = await tr.evaluate(batch);
    tr.stepSync!(batch);
    expect(tr.lastLoss()).toBe(before);
    expect(await tr.evaluate(batch)).toBeLessThan(before);
    tr.dispose();
  });

  // The generated JS kernels (loops: 'js'), after V8 has optimised them, and the default, WebAssembly
  // loops kernels, around the same JS host code.
  it.each([['js', 80, 1024], ['wasm', 30, 0]] as const)('a many-block model (ViT-like encoder, 6 blocks), %s loops kernels: after %i steps, at most %i bytes a step', async (loops, warm, bound) => {
    // tiny sizes: ~650 kernels, each a few dozen values, so nothing is hot enough for V8 on its own;
    // with one JS function per kernel (buffer ids in the source), the JS run allocated 40–310 KB a step here.
    const file = new URL('../bench/model/vit-small.lily', import.meta.url);
    const checked = checkSource(readFileSync(file, 'utf8'), file.pathname);
    const dims = { Bt: 1, T: 9, D: 32, heads: 2, F: 64, L: 6 };
    const blas = loadNativeBlas().ok ? 'native' : 'wasm';
    const backend = blas === 'native' ? cpuBackend({ blas, loops }) : cpuBackend({ gemm: false, loops });
    const tr = await compileTraining(checked, 'ViTLily', { dims, backend });
    const n = dims.Bt * dims.T * dims.D;
    const batch = { x: Float32Array.from({ length: n }, (_, i) => Math.sin(i)), t: Float32Array.from({ length: n }, (_, i) => Math.cos(i)) };
    for (let i = 0; i < warm; i++) tr.stepSync!(batch);
    const windows = await stepBytes(() => tr.stepSync!(batch), 4, bound);
    expect(within(windows, bound), `bytes per step in each window: ${windows.map((b) => b.toFixed(0))}`).toBeGreaterThanOrEqual(2);
    tr.dispose();
  }, 60_000);
});
