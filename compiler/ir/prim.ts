// A primitive is one record: shape rule, float64 reference evaluation, VJP rule (written with IR
// builder calls), FLOP count, printer. Every stage looks primitives up here; none switches on op.
import type { Tensor } from '../../runtime/tensor/index.ts';
import type { Attrs, Graph, Id, Node } from './graph.ts';

export interface VjpArgs {
  g: Graph;
  node: Node;
  /** The cotangent of this node's output. */
  ct: Id;
}

export interface Prim {
  name: string;
  doc: string;
  shape(inputs: number[][], attrs: Attrs): number[];
  eval(inputs: Tensor[], attrs: Attrs, node: Node): Tensor;
  /** Cotangent contributions for each input (undefined: no gradient flows to it). */
  vjp?(a: VjpArgs): (Id | undefined)[];
  /** Floating-point operations to compute the node once. */
  flops(node: Node, g: Graph): number;
  print?(attrs: Attrs): string;
  /** Which inputs the output is linear in, given the others fixed (for merge analysis). */
  linearIn?(node: Node): number[];
  /** A simpler existing node this application reduces to (builder-time simplification). */
  normalize?(g: Graph, inputs: Id[], attrs: Attrs): Id | undefined;
  /**
   * normalize looks only at the order of the input ids (and the attrs): a node copied onto inputs
   * in the same order (same ties) is normal already, and a rebuild need not ask again.
   */
  normalOnOrder?: boolean;
  /** Leaves: nodes without inputs whose value comes from outside (inputs, parameters). */
  leaf?: boolean;
  /**
   * The program's dimension name of each output axis, from its inputs' (for messages: `Σ over E`).
   * Absent: an op on equal shapes keeps its inputs' names, any other loses them (ir/axis-names.ts).
   */
  axes?(inputs: AxisNames[], node: Node, g: Graph): AxisNames;
}

/** A dimension name per axis (as written in the program: `In`, `r`, `In / n`); undefined where unknown. */
export type AxisNames = readonly (string | undefined)[];

const TABLE = new Map<string, Prim>();

export function definePrim(p: Prim): Prim {
  if (TABLE.has(p.name)) throw new Error(`primitive ${p.name} defined twice`);
  TABLE.set(p.name, p);
  return p;
}

export function primitive(op: string): Prim {
  const p = TABLE.get(op);
  if (!p) throw new Error(`internal: unknown primitive '${op}'`);
  return p;
}

export const allPrims = (): Prim[] => [...TABLE.values()];

export const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
