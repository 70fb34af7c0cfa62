// Every stdlib adapter exported to ONNX (opset 17; merged into the base weight where mergeable)
// runs in onnxruntime-node and matches our float64 reference in float32 tolerance, at another
// batch size than it was exported at (N is a dynamic dimension of the graph).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import '../../compiler/ir/prims.ts';
import { exportAdapterToOnnx } from '../../compiler/codegen/onnx-export.ts';
import { mergeVerdict } from '../../compiler/analysis/mergeable.ts';
import { loadFile } from '../../compiler/frontend.ts';
import { checkOnnx, loadOrt } from './check.ts';

const root = new URL('../..', import.meta.url).pathname;
const ort = await loadOrt();
const SIZES = { In: 16, Out: 12, r: 3, E: 3, m: 4, n: 4, rh: 4, f: 2, P: 2, b: 4, h: 6, k: 2 };

// Every stdlib adapter, in evaluation mode (dropout off; LoRA with dropout exports as LoRA).
const adapters = readdirSync(join(root, 'stdlib/adapters'))
  .filter((n) => n.endsWith('.lily'))
  .sort()
  .flatMap((f) => {
    const file = `stdlib/adapters/${f}`;
    const checked = loadFile(join(root, file));
    return [...checked.units.values()].filter((u) => u.decl.kind === 'adapter').map((u) => ({ file, checked, name: u.decl.name, settings: Object.fromEntries(Object.entries(SIZES).filter(([k]) => k === 'In' || k === 'Out' || u.decl.hypers.some((h) => h.name === k))) }));
  });

describe.skipIf(typeof ort === 'string')(`ONNX export of every stdlib adapter${typeof ort === 'string' ? ` (skipped: ${ort})` : ''}`, () => {
  for (const { file, checked, name, settings } of adapters)
    it(`${name}: onnxruntime = reference (float32, 1e-4), N dynamic`, async () => {
      const ex = exportAdapterToOnnx(checked, name, { settings: { ...settings, N: 8 }, params: 'random', seed: 2, file, sha256: 'test' });
      // merged where the compiler can merge, except a program reading the step (a graph input then)
      expect(ex.merged).toBe(mergeVerdict(checked, name, settings).mergeable && !ex.inputs.includes('step'));
      const model = onnxProto.onnx.ModelProto.decode(ex.bytes);
      expect(Number(model.opsetImport?.[0]?.version)).toBeGreaterThanOrEqual(17);
      if (ex.merged) expect((model.graph?.node ?? []).map((n) => n.opType)).toEqual(['MatMul', 'Add']);
      const r = await checkOnnx(ort as Exclude<typeof ort, string>, ex.bytes, checked, name, settings, { seed: 2, params: 'random', rows: 5 });
      expect(r.error).toBeLessThan(1e-4);
    });
});

describe.skipIf(typeof ort === 'string')(`ONNX export of the optimiser step${typeof ort === 'string' ? ` (skipped: ${ort})` : ''}`, () => {
  it('SingLoRA takes the step as a graph input and follows its ramp', async () => {
    const file = 'stdlib/adapters/singlora.lily';
    const checked = loadFile(join(root, file));
    const ex = exportAdapterToOnnx(checked, 'SingLoRA', { settings: { In: 8, Out: 6, r: 2, N: 4 }, params: 'random', seed: 3, file, sha256: 'test' });
    expect(ex.inputs).toEqual(['x', 'step']);
    const o = ort as Exclude<typeof ort, string>;
    const session = await o.InferenceSession.create(ex.bytes);
    const x = new o.Tensor('float32', Float32Array.from({ length: 16 }, (_, i) => Math.sin(i)), [2, 8]);
    const at = async (step: number) => Object.values(await session.run({ x, step: new o.Tensor('float32', Float32Array.of(step), []) }))[0].data as Float32Array;
    const [y0, y50, y100, y200] = await Promise.all([0, 50, 100, 200].map(at));
    // u = min(step / T, 1): linear up to T = 100, then flat
    const delta = (y: Float32Array) => y.map((v, i) => v - y0[i]);
    const d50 = delta(y50);
    const d100 = delta(y100);
    expect(Math.max(...d100.map(Math.abs))).toBeGreaterThan(1e-3);
    d100.forEach((v, i) => expect(v).toBeCloseTo(2 * d50[i], 5));
    y200.forEach((v, i) => expect(v).toBeCloseTo(y100[i], 6));
  });
});
