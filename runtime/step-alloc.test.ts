// After warm-up, a training step on the CPU backend (OpenBLAS gemm, or loops where the binding is not
// built) allocates (almost) nothing: every buffer is allocated at prepare(), inputs are copied into
// the leaves, the assigns are prepared once. What remains is V8 boxing a few double scalars.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../compiler/frontend.ts';
import { bytesPerStep } from './alloc-probe.ts';
import { cpuBackend } from './backends/cpu-exec.ts';
import { loadNativeBlas } from './backends/native-blas.ts';
import { compileTraining } from './train.ts';

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
});
