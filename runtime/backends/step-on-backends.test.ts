// The whole compiled training step (forward, loss, backward, AdamW — every fused kernel) on each
// backend equals the float64 reference executor, on random shapes, to float32 tolerance. WebGPU runs
// on Mesa's llvmpipe where there is no GPU (CI installs it); it is skipped, saying why, elsewhere.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../compiler/frontend.ts';
import type { Backend } from '../executable.ts';
import { compileTraining } from '../train.ts';
import { cpuBackend } from './cpu-exec.ts';
import { gpuJsBackend } from './gpujs-exec.ts';
import { referenceBackend } from './reference-exec.ts';

const lily = checkSource(readFileSync(new URL('../../stdlib/adapters/lily.lily', import.meta.url), 'utf8'), 'lily.lily');
const dora = checkSource(readFileSync(new URL('../../stdlib/adapters/dora.lily', import.meta.url), 'utf8'), 'dora.lily');

const BACKENDS: [string, () => Backend][] = [
  ['cpu (OpenBLAS gemm)', () => cpuBackend({ blas: 'native' })],
  ['cpu (wasm gemm)', () => cpuBackend({ blas: 'wasm' })],
  ['gpujs-cpu', () => gpuJsBackend('cpu')],
  ['webasm', () => gpuJsBackend('webasm')],
  ['webgpu', () => gpuJsBackend('webgpu')],
];

const close = (got: Float32Array, want: Float32Array, what: string) => {
  const scale = Math.max(1e-3, ...Array.from(want, Math.abs));
  got.forEach((v, i) => expect(Math.abs(v - want[i]), `${what}[${i}]: ${v} vs ${want[i]}`).toBeLessThan(2e-4 * scale + 1e-4 * Math.abs(want[i])));
};

describe('the training step on every backend equals the reference', () => {
  for (const [name, make] of BACKENDS)
    it(`${name}: loss, gradients and updated parameters (Lily and DoRA, random shapes)`, async () => {
      const backend = make();
      const ok = await backend.available();
      if (!ok.ok) {
        console.warn(`skipping ${name}: ${ok.reason}`);
        return;
      }
      await fc.assert(
        fc.asyncProperty(fc.record({ N: fc.integer({ min: 1, max: 9 }), In: fc.integer({ min: 1, max: 12 }), Out: fc.integer({ min: 1, max: 10 }), r: fc.integer({ min: 1, max: 4 }), E: fc.integer({ min: 2, max: 3 }) }), async (dims) => {
          for (const [checked, adapter] of [[lily, 'Lily'], [dora, 'DoRA']] as const) {
            const opts = { dims, params: 'random' as const, seed: 4, keep: 'gradients' as const, optimizer: { kind: 'adamw' as const, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 } };
            const ref = await compileTraining(checked, adapter, opts);
            const dut = await compileTraining(checked, adapter, { ...opts, backend });
            const x = Float32Array.from({ length: dims.N * dims.In }, (_, i) => Math.sin(i + 1));
            const t = Float32Array.from({ length: dims.N * dims.Out }, (_, i) => Math.cos(i));
            for (let step = 0; step < 2; step++) {
              const lr = await ref.step({ x, t });
              const ld = await dut.step({ x, t });
              expect(Math.abs(ld - lr)).toBeLessThan(1e-4 * Math.max(1, Math.abs(lr)));
            }
            for (const out of ref.plan.outputs.keys()) if (out.startsWith('grad:')) close(await dut.read(out), await ref.read(out), `${adapter} ${out}`);
            const pr = await ref.parameters();
            const pd = await dut.parameters();
            for (const [k, v] of pr) close(pd.get(k)!, v, `${adapter} ${k}`);
            ref.dispose();
            dut.dispose();
          }
        }),
        { seed: 17, numRuns: name === 'webgpu' ? 2 : 4 },
      );
    });
});
