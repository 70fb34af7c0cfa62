// Run an exported ONNX graph with onnxruntime-node and compare it with our float64 reference (the
// naive program, evaluated by each primitive's float64 rule), in float32 tolerance. Node-only;
// onnxruntime-node is loaded on demand (a development dependency).
import type { CheckedProgram } from '../../compiler/check/check.ts';
import { evaluateOutputs } from '../../compiler/ir/evaluate.ts';
import { compile } from '../../compiler/pipeline.ts';
import * as T from '../tensor/index.ts';

type Ort = typeof import('onnxruntime-node');

/** onnxruntime-node, or why it cannot load. */
export async function loadOrt(): Promise<Ort | string> {
  try {
    const m = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    return m.default ?? m;
  } catch (e) {
    return `onnxruntime-node cannot be loaded (${(e as Error).message.split('\n')[0]}); install it with ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node`;
  }
}

export interface OnnxCheck {
  /** Largest |onnx − reference| / max(1, |reference|). */
  error: number;
  rows: number;
}

/** The exported layer on random x with `rows` rows against the reference layer (same parameters). */
export async function checkOnnx(ort: Ort, bytes: Uint8Array, checked: CheckedProgram, adapter: string, settings: Record<string, number | boolean>, opts: { seed: number; params: 'init' | 'random'; rows: number }): Promise<OnnxCheck> {
  // A graph that takes the optimiser step is run part-way along (a ramp at 0 would check nothing).
  const step = 37;
  const p = compile(checked, adapter, { settings: { ...settings, N: opts.rows }, seed: opts.seed, params: opts.params, forwardOnly: true, until: 'hoist', skip: ['simplify'], step });
  let y = evaluateOutputs(p.graph, p.leaves).get('y')!;
  const x = p.leaves.get('x')!;
  if (checked.units.get(adapter)!.methods.has('delta')) {
    const W = p.leaves.get('base.W')!;
    const b = p.leaves.get('base.b')!;
    y = T.add(T.add(T.einsum('ab,bc->ac', x, W), T.broadcastAxes(b, y.shape, [1])), y);
  }
  const session = await ort.InferenceSession.create(bytes);
  const feeds: Record<string, InstanceType<Ort['Tensor']>> = { x: new ort.Tensor('float32', Float32Array.from(x.data), x.shape) };
  if (session.inputNames.includes('step')) feeds.step = new ort.Tensor('float32', Float32Array.of(step), []);
  const out = await session.run(feeds);
  const got = Object.values(out)[0];
  if (got.dims.join() !== y.shape.join()) return { error: Infinity, rows: opts.rows };
  let error = 0;
  const data = got.data as Float32Array;
  for (let i = 0; i < y.data.length; i++) error = Math.max(error, Math.abs(data[i] - y.data[i]) / Math.max(1, Math.abs(y.data[i])));
  return { error: Number.isNaN(error) ? Infinity : error, rows: opts.rows };
}
