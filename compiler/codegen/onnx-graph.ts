// Building an ONNX graph (opset 17) with onnx-proto's generated protobuf classes: nodes,
// initializers, and the dynamic batch size N (sizes and constants that depend on N are computed
// in the graph from Shape(x); everything else is a constant).
import onnxProto from 'onnx-proto';
import type { onnx as P } from 'onnx-proto';
import type { Monomial } from './torch-symbolic.ts';

export const { onnx } = onnxProto;
export const OPSET = 17;
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

type AttrValue = number | number[] | string | { float: number };

function attribute(name: string, v: AttrValue): P.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if (typeof v === 'object') return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.INT, i: v };
}

export class OnnxGraph {
  readonly nodes: P.INodeProto[] = [];
  readonly initializers: P.ITensorProto[] = [];
  private count = 0;
  private nVec?: string;
  private nFloat?: string;

  /** The name of the input the batch size N is read from. */
  constructor(readonly x: string) {}

  fresh(prefix = 't'): string {
    return `${prefix}${this.count++}`;
  }

  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.nodeOutputs(op, inputs, attrs, 1)[0];
  }

  /** A node with several outputs (TopK: values, indices). */
  nodeOutputs(op: string, inputs: string[], attrs: Record<string, AttrValue>, count: number): string[] {
    const first = this.fresh(op.toLowerCase());
    const outs = [first, ...Array.from({ length: count - 1 }, (_, i) => `${first}_${i + 1}`)];
    this.nodes.push({ opType: op, input: inputs, output: outs, name: first, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return outs;
  }

  floats(data: ArrayLike<number>, dims: number[], name = this.fresh('c')): string {
    this.initializers.push({ name, dataType: FLOAT, dims, floatData: Array.from(data, Math.fround) });
    return name;
  }

  ints(data: number[], dims = [data.length]): string {
    const name = this.fresh('i');
    this.initializers.push({ name, dataType: INT64, dims, int64Data: data });
    return name;
  }

  /** N as an int64 [1] tensor, from Shape(x). */
  private n(): string {
    this.nVec ??= this.node('Shape', [this.x], { start: 0, end: 1 });
    return this.nVec;
  }

  /** A size or index (an integer monomial in N) as an int64 [1] tensor. */
  private size(m: Monomial): string {
    const e = m.exps.N ?? 0;
    if (Object.keys(m.exps).some((d) => d !== 'N' && m.exps[d])) throw new Error(`internal: ONNX sizes depend on N only`);
    if (e === 0) return this.ints([Math.round(m.k)]);
    if (e !== 1 || !Number.isInteger(m.k)) throw new OnnxUnsupported(`a size ${m.k}·N^${e}`);
    return m.k === 1 ? this.n() : this.node('Mul', [this.n(), this.ints([m.k])]);
  }

  /** A shape as an int64 [rank] tensor. */
  shape(dims: Monomial[]): string {
    if (dims.every((m) => !m.exps.N)) return this.ints(dims.map((m) => Math.round(m.k)));
    return this.node('Concat', dims.map((m) => this.size(m)), { axis: 0 });
  }

  /** A real constant (a monomial in N) as a float scalar tensor. */
  scalar(m: Monomial): string {
    const e = m.exps.N ?? 0;
    if (e === 0) return this.floats([m.k], []);
    this.nFloat ??= this.node('Reshape', [this.node('Cast', [this.n()], { to: FLOAT }), this.ints([])]);
    const power = e === 1 ? this.nFloat : this.node('Pow', [this.nFloat, this.floats([e], [])]);
    return this.node('Mul', [this.floats([m.k], []), power]);
  }

  /** Graph inputs besides x (a program's `step`: a float scalar the caller feeds). */
  readonly extraInputs: { name: string; shape: number[] }[] = [];
  input(name: string, shape: number[]): string {
    if (!this.extraInputs.some((i) => i.name === name)) this.extraInputs.push({ name, shape });
    return name;
  }

  model(output: string, inputShape: (string | number)[], outputShape: (string | number)[], doc: string): Uint8Array {
    const dim = (d: string | number) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d });
    const type = (dims: (string | number)[]) => ({ tensorType: { elemType: FLOAT, shape: { dim: dims.map(dim) } } });
    const graph: P.IGraphProto = {
      name: 'lily',
      node: this.nodes,
      initializer: this.initializers,
      input: [{ name: this.x, type: type(inputShape) }, ...this.extraInputs.map((i) => ({ name: i.name, type: type(i.shape) }))],
      output: [{ name: output, type: type(outputShape) }],
    };
    const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'lily', docString: doc, opsetImport: [{ domain: '', version: OPSET }], graph });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Something the ONNX export cannot express (reported as a user error). */
export class OnnxUnsupported extends Error {}
