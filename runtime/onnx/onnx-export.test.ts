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
const SIZES = { In: 16, Out: 12, r: 3, E: 3, m: 4, n: 5, rh: 4, f: 2, P: 2 };

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
      expect(ex.merged).toBe(mergeVerdict(checked, name, settings).mergeable);
      const model = onnxProto.onnx.ModelProto.decode(ex.bytes);
      expect(Number(model.opsetImport?.[0]?.version)).toBeGreaterThanOrEqual(17);
      if (ex.merged) expect((model.graph?.node ?? []).map((n) => n.opType)).toEqual(['MatMul', 'Add']);
      const r = await checkOnnx(ort as Exclude<typeof ort, string>, ex.bytes, checked, name, settings, { seed: 2, params: 'random', rows: 5 });
      expect(r.error).toBeLessThan(1e-4);
    });
});
