// GraphOps: the interpreter's operations, building IR nodes instead of computing. Lowering a
// checked program is running the interpreter with these (see lower.ts).
import type * as T from '../../runtime/tensor/index.ts';
import type { BinaryOp, Ops, ReduceKind, TT } from '../interp/ops.ts';
import type { Graph, Id } from './graph.ts';
import { mulSame, scale } from './prims/elementwise.ts';
import './prims.ts';
import { padAlong } from './prims/select.ts';
import type { DecomposePart } from './prims/decompose.ts';

const L = 'abcdefghijklmnopqrstuvwxyz';

export class GraphOps implements Ops {
  /** Float64 values of the leaves (parameters and inputs), by name. */
  readonly values = new Map<string, T.Tensor>();
  readonly trainable = new Set<string>();
  /** The declared dimension names of the leaves' axes, by leaf name. */
  readonly leafAxes = new Map<string, readonly string[]>();
  /** Learning-rate multipliers declared with `lr * ratio`, by leaf name. */
  readonly lrScale = new Map<string, number>();
  scaleLearningRate = (leafName: string, ratio: number) => {
    this.lrScale.set(leafName, ratio);
  };
  constructor(readonly g: Graph) {}

  private id = (x: TT) => x as Id;
  shape = (x: TT) => this.g.shape(this.id(x));
  scalar = (v: number) => this.g.add('const', [], { value: v });
  fill = (shape: number[], v: number) => this.g.add('fill', [], { value: v, shape });
  eye = (n: number, cols = n, offset = 0) => this.g.add('eye', [], cols === n && offset === 0 ? { n } : { n, cols, offset });
  locate = (span: Parameters<NonNullable<Ops['locate']>>[0]) => {
    this.g.loc = span;
  };

  bind = (name: string, t: TT) => {
    if (!this.g.names.has(this.id(t))) this.g.names.set(this.id(t), name);
  };

  leaf(kind: 'param' | 'input', name: string, value: T.Tensor, trainable = true, axes?: readonly string[]) {
    const prev = this.values.get(name);
    if (prev && prev !== value) throw new Error(`internal: two values for leaf ${name}`);
    this.values.set(name, value);
    if (axes && !this.leafAxes.has(name)) this.leafAxes.set(name, axes);
    if (kind === 'param' && trainable) this.trainable.add(name);
    return this.g.add(kind, [], { name, shape: value.shape, ...(kind === 'param' ? { trainable } : {}) });
  }

  unary(fn: T.UnaryName, x: TT) {
    if (fn === 'neg') return scale(this.g, -1, this.id(x));
    return this.g.add('map', [this.id(x)], { fn });
  }

  binary(op: BinaryOp, a: TT, b: TT) {
    const g = this.g;
    const [x, y] = [this.id(a), this.id(b)];
    // A fill operand is a scalar in disguise (from broadcasting a literal): keep it a const so
    // that scalings stay einsum factors the optimiser can move.
    const asConst = (id: Id) => {
      const n = g.node(id);
      if (n.op === 'fill') return g.add('const', [], { value: n.attrs.value });
      const inner = n.op === 'broadcast' ? g.node(n.inputs[0]) : undefined;
      return inner?.op === 'const' ? inner.id : undefined;
    };
    const rank = g.shape(x).length;
    const l = L.slice(0, rank);
    switch (op) {
      case '+':
        return g.add('add', [x, y]);
      case '-':
        return g.add('add', [x, scale(g, -1, y)]);
      case '*': {
        const cx = asConst(x);
        const cy = asConst(y);
        if (cx !== undefined) return g.add('einsum', [cx, y], { spec: `,${l}->${l}` });
        if (cy !== undefined) return g.add('einsum', [x, cy], { spec: `${l},->${l}` });
        return mulSame(g, x, y);
      }
      case '/': {
        const cy = asConst(y);
        if (cy !== undefined) return g.add('einsum', [x, g.add('const', [], { value: 1 / (g.node(cy).attrs.value as number) })], { spec: `${l},->${l}` });
        return mulSame(g, x, g.add('map', [y], { fn: 'recip' }));
      }
      case '**':
        return g.add('pow', [x, y]);
    }
  }

  broadcastAxes = (x: TT, shape: number[], map: number[]) => this.g.add('broadcast', [this.id(x)], { shape, map });
  reshape = (x: TT, shape: number[]) => this.g.add('reshape', [this.id(x)], { shape });
  take = (x: TT, axis: number, index: number) => this.g.add('take', [this.id(x)], { axis, index });
  slice = (x: TT, axis: number, lo: number, hi: number) => this.g.add('slice', [this.id(x)], { axis, lo, hi });
  pad = (x: TT, axis: number, lo: number, size: number) => padAlong(this.g, this.id(x), axis, lo, size);

  transpose(x: TT, perm: number[]) {
    const l = L.slice(0, perm.length);
    return this.g.add('einsum', [this.id(x)], { spec: `${l}->${perm.map((p) => l[p]).join('')}` });
  }

  matmul(a: TT, b: TT) {
    const g = this.g;
    let [x, y] = [this.id(a), this.id(b)];
    let sa = g.shape(x);
    let sb = g.shape(y);
    const batch = Math.max(sa.length, sb.length) - 2;
    // Drop size-1 batch axes that broadcast against a larger size: einsum indexes must agree.
    const outBatch = Array.from({ length: batch }, (_, i) => Math.max(sa[i - (batch - (sa.length - 2))] ?? 1, sb[i - (batch - (sb.length - 2))] ?? 1));
    const letters = (s: number[]) => {
      const off = batch - (s.length - 2);
      const keep: number[] = [];
      let sub = '';
      s.slice(0, -2).forEach((d, i) => {
        if (d === outBatch[i + off]) {
          keep.push(d);
          sub += L[i + off];
        }
      });
      return { keep, sub };
    };
    const la = letters(sa);
    const lb = letters(sb);
    if (la.keep.length !== sa.length - 2) x = g.add('reshape', [x], { shape: [...la.keep, ...sa.slice(-2)] });
    if (lb.keep.length !== sb.length - 2) y = g.add('reshape', [y], { shape: [...lb.keep, ...sb.slice(-2)] });
    sa = g.shape(x);
    sb = g.shape(y);
    const [m, k, n] = ['x', 'y', 'z'];
    const spec = `${la.sub}${m}${k},${lb.sub}${k}${n}->${L.slice(0, batch)}${m}${n}`;
    return g.add('einsum', [x, y], { spec });
  }

  reduce(kind: ReduceKind, x: TT, axes: number[]) {
    const g = this.g;
    const s = g.shape(this.id(x));
    if (kind === 'max' || kind === 'min') return g.add(`reduce_${kind}`, [this.id(x)], { axes: [...axes].sort() });
    const l = L.slice(0, s.length);
    const kept = [...l].filter((_, i) => !axes.includes(i)).join('');
    const summed = g.add('einsum', [this.id(x)], { spec: `${l}->${kept}` });
    if (kind === 'sum') return summed;
    const n = axes.reduce((p, a) => p * s[a], 1);
    return scale(g, 1 / n, summed);
  }

  softmax = (x: TT, axis: number) => this.g.add('softmax', [this.id(x)], { axis });
  logSoftmax = (x: TT, axis: number) => this.g.add('log_softmax', [this.id(x)], { axis });
  detach = (x: TT) => this.g.add('stopgrad', [this.id(x)]);
  iota = (n: number) => this.g.add('iota', [], { n });
  decompose = (x: TT, part: DecomposePart) => this.g.add('decompose', [this.id(x)], { part });
  topk = (x: TT, axis: number, k: number) => this.g.add('topk_mask', [this.id(x)], { axis, k });

  /** Kronecker product of the last two axes; leading (batch) axes, equal in both, are kept. */
  kron(a: TT, b: TT) {
    const sa = this.g.shape(this.id(a));
    const [r, s] = this.g.shape(this.id(b)).slice(-2);
    const [p, q] = sa.slice(-2);
    const batch = L.slice(0, sa.length - 2).toUpperCase();
    const outer = this.g.add('einsum', [this.id(a), this.id(b)], { spec: `${batch}ab,${batch}cd->${batch}acbd` });
    return this.g.add('reshape', [outer], { shape: [...sa.slice(0, -2), p * r, q * s] });
  }
}
