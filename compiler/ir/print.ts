// A readable listing of a graph: one line per live node, outputs last.
import type { Graph } from './graph.ts';
import { primitive } from './prim.ts';

export function printGraph(g: Graph): string {
  const lines: string[] = [];
  for (const id of g.live()) {
    const n = g.node(id);
    const p = primitive(n.op);
    const text = p.print ? p.print(n.attrs) : n.op;
    const args = n.inputs.length ? `(${n.inputs.map((i) => `%${i}`).join(', ')})` : '';
    const loc = n.loc ? `  -- ${n.loc.line}:${n.loc.col}` : '';
    const flops = p.flops(n, g);
    lines.push(`%${id} = ${text}${args} : [${n.shape.join(', ')}]${flops ? `  (${flops.toLocaleString('en-US')} flop)` : ''}${loc}`);
  }
  for (const [name, id] of g.outputs) lines.push(`out ${name} = %${id}`);
  return lines.join('\n');
}
