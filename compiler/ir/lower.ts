// Lowering: a checked adapter (its delta or forward), model or fn, at concrete sizes, to an IR
// graph — by running the interpreter with GraphOps. Output 'y'; leaves keep their float64 values.
import type { CheckedProgram } from '../check/check.ts';
import { runEntry, type RunOptions } from '../interp/run.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';
import { Graph } from './graph.ts';
import { GraphOps } from './graph-ops.ts';
import type { AxisNames } from './prim.ts';

export interface Lowered {
  graph: Graph;
  /** Float64 values of every leaf (parameters and inputs) by name. */
  leaves: Map<string, Tensor>;
  trainable: string[];
  inputs: string[];
  /** Learning-rate multipliers declared with `lr * ratio` (LoRA+), by trainable leaf name. */
  lrScale: Map<string, number>;
  /** The declared dimension names of the leaves' axes (`A: [In, r]`), by leaf name. */
  leafAxes: Map<string, AxisNames>;
}

export function lower(checked: CheckedProgram, entry: string, opts: Omit<RunOptions, 'ops'>): Lowered {
  const graph = new Graph();
  const ops = new GraphOps(graph);
  const { inputs, output } = runEntry(checked, entry, { ...opts, ops });
  if (output.kind !== 'tensor') throw new Error(`internal: ${entry} did not produce a tensor`);
  graph.outputs.set('y', output.t as number);
  graph.loc = undefined;
  return { graph, leaves: ops.values, trainable: [...ops.trainable], inputs: [...inputs.keys()], lrScale: ops.lrScale, leafAxes: ops.leafAxes };
}
