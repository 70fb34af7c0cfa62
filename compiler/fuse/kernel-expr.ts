// A kernel's body as a kernel expression (kernel-ir.ts): the fusion pass (fuse.ts) decides which nodes
// get buffers; this writes, for the node a kernel computes, the expression of its output element at
// given coordinates — inlined producers, views as affine loads of their buffers, reduces for sums,
// softmax and top-k. A class of its own (not closures inside planKernels): V8 optimises these
// methods one by one instead of as one very large function.
import type { Graph, Id, Node } from '../ir/graph.ts';
import { type EinsumSpec, parseSpec } from '../ir/prims/einsum.ts';
import { shiftMatrix } from '../ir/prims/select.ts';
import { shiftedEye } from '../interp/ops.ts';
import type { UnaryName } from '../../runtime/tensor/index.ts';
import { affine, type Affine, type BufferId, type KExpr } from './kernel-ir.ts';

/** How a node fuses (fuse.ts CLASS_OF). */
export type NodeClass = 'leaf' | 'const' | 'view' | 'elementwise' | 'contraction' | 'reduction' | 'rowwise' | 'reshape';

/** Leaves whose value is a constant given by their attributes (buffers fed once): their data. */
export const CONSTANT_LEAVES: Partial<Record<string, (a: Record<string, unknown>) => Float64Array>> = {
  eye: ({ n, cols, offset }) => Float64Array.from(shiftedEye(n as number, (cols ?? n) as number, (offset ?? 0) as number).data),
  iota: ({ n }) => Float64Array.from({ length: n as number }, (_, i) => i),
  shift_matrix: (a) => shiftMatrix(a.rows as number, a.cols as number, a.offset as number).data,
};
export const constantName = (op: string, a: Record<string, unknown>) => `const:${op}:${Object.keys(a).sort().map((k) => a[k]).join(':')}`;

const stridesOf = (shape: number[]) => {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
};
/** row-major strides by shape array (a node's shape is one array, read for every load of it) */
const stridesCache = new WeakMap<number[], number[]>();
const stridesOfShape = (shape: number[]) => {
  let s = stridesCache.get(shape);
  if (!s) stridesCache.set(shape, (s = stridesOf(shape)));
  return s;
};

/** Coordinates of a node's output element: one affine expression per axis. */
export type Coords = Affine[];
const add = (a: Affine, b: Affine): Affine => {
  const m = new Map<string, number>();
  for (const t of [...a.terms, ...b.terms]) m.set(t.v, (m.get(t.v) ?? 0) + t.c);
  return affine([...m].map(([v, c]) => ({ v, c })), a.offset + b.offset);
};
/**
 * Σᵢ strideᵢ·coordsᵢ: the flat row-major offset of coordinates in a shape (the fold of `add` over the
 * scaled axes, in one map: terms in order of first appearance, one whose sum cancels after an axis
 * dropped — a load's every affine offset is made here, so it is kept cheap).
 */
const flat = (coords: Coords, shape: number[]): Affine => {
  const strides = stridesOfShape(shape);
  // the terms so far, as a Map would keep them (a few: searched in place)
  const terms: { v: string; c: number }[] = [];
  let offset = 0;
  for (let i = 0; i < strides.length; i++) {
    const s = strides[i], c = coords[i];
    let cancelled = false;
    for (const t of c.terms) {
      const k = t.c * s;
      if (k === 0) continue;
      let j = 0;
      while (j < terms.length && terms[j]!.v !== t.v) j++;
      if (j === terms.length) terms.push({ v: t.v, c: k });
      else terms[j]!.c += k;
      if (terms[j]!.c === 0) cancelled = true;
    }
    if (cancelled) for (let j = terms.length - 1; j >= 0; j--) if (terms[j]!.c === 0) terms.splice(j, 1);
    offset += c.offset * s;
  }
  return { terms, offset };
};
/** variable names by number, made once: every kernel names its loops i0, i1, … and its reduces r0, r1, … */
const names = (prefix: string) => {
  const made: string[] = [];
  return (i: number) => (made[i] ??= `${prefix}${i}`);
};
export const loopVar = names('i');
const reduceVar = names('r');
export const varA = (v: string): Affine => ({ terms: [{ v, c: 1 }], offset: 0 });
const constA = (c: number): Affine => ({ terms: [], offset: c });

/**
 * An einsum's summed letters in order of first appearance, each with where its extent is read (its
 * last occurrence: operand o, axis i), once per spec.
 */
const summedCache = new WeakMap<EinsumSpec, { ch: string; o: number; i: number }[]>();
export function summedOf(s: EinsumSpec): { ch: string; o: number; i: number }[] {
  let r = summedCache.get(s);
  if (r) return r;
  const last = new Map<string, { o: number; i: number }>();
  s.ins.forEach((sub, o) => [...sub].forEach((ch, i) => last.set(ch, { o, i })));
  r = [...new Set(s.ins.join(''))].filter((ch) => !s.out.includes(ch)).map((ch) => ({ ch, ...last.get(ch)! }));
  summedCache.set(s, r);
  return r;
}

/** The expressions of a plan's kernels: `bufOf` gives each materialised node's buffer (read as loads). */
export class KernelExprs {
  private fresh = 0;

  constructor(
    private readonly g: Graph,
    private readonly bufOf: Map<Id, BufferId>,
    private readonly nodeClass: (n: Node) => NodeClass,
    /** the buffer of a constant leaf by name (size elements, its data made when it is new) */
    private readonly constantLeaf: (name: string, size: number, data: () => Float64Array) => BufferId,
  ) {}

  /** node id's value at coords (its kernel's loop variables); reduce variables named r0, r1, … per kernel */
  kernelBody(id: Id, coords: Coords): KExpr {
    this.fresh = 0;
    return this.exprOf(id, coords, true);
  }

  private freshVar() {
    return reduceVar(this.fresh++);
  }
  private load(id: Id, coords: Coords): KExpr {
    return { k: 'load', buf: this.bufOf.get(id)!, at: flat(coords, this.g.shape(id)) };
  }
  private constantBuffer(op: string, size: number): BufferId {
    return this.constantLeaf(constantName(op, { n: size }), size, () => CONSTANT_LEAVES[op]!({ n: size }));
  }
  private onehot(size: number, index: number): BufferId {
    return this.constantLeaf(`const:onehot:${size}:${index}`, size, () => {
      const data = new Float64Array(size);
      data[index] = 1;
      return data;
    });
  }

  private exprOf(id: Id, coords: Coords, root: boolean): KExpr {
    const n = this.g.node(id);
    if (!root && this.bufOf.has(id)) return this.load(id, coords);
    const ins = n.inputs;
    switch (this.nodeClass(n)) {
      case 'const':
        return { k: 'const', v: n.attrs.value as number };
      case 'leaf':
        return this.load(id, coords);
      case 'reshape':
        // The input is a buffer: the same flat offset, addressed in the new shape.
        return { k: 'load', buf: this.bufOf.get(ins[0])!, at: flat(coords, n.shape) };
      case 'view':
        return this.viewExpr(n, coords);
      case 'rowwise':
        return this.rowwiseExpr(n, coords);
      default:
        return this.computeExpr(n, coords);
    }
  }

  private viewExpr(n: Node, coords: Coords): KExpr {
    const [x] = n.inputs;
    if (n.op === 'stopgrad') return this.exprOf(x, coords, false);
    if (n.op === 'broadcast') {
      const map = n.attrs.map as number[];
      const inShape = this.g.shape(x);
      return this.exprOf(x, inShape.map((d, i) => (d === 1 && n.shape[map[i]] !== 1 ? constA(0) : coords[map[i]])), false);
    }
    if (n.op === 'slice') {
      const axis = n.attrs.axis as number;
      return this.exprOf(x, coords.map((c, i) => (i === axis ? add(c, constA(n.attrs.lo as number)) : c)), false);
    }
    if (n.op === 'take') {
      const axis = n.attrs.axis as number;
      const c = [...coords];
      c.splice(axis, 0, constA(n.attrs.index as number));
      return this.exprOf(x, c, false);
    }
    // A one-operand einsum without sums: a transpose (or identity).
    const s = parseSpec(n.attrs.spec as string);
    const at = new Map([...s.out].map((ch, i) => [ch, coords[i]]));
    return this.exprOf(x, [...s.ins[0]].map((ch) => at.get(ch)!), false);
  }

  private rowwiseExpr(n: Node, coords: Coords): KExpr {
    const axis = n.attrs.axis as number;
    const extent = n.shape[axis];
    const x = n.inputs[0];
    const at = (v: string) => coords.map((c, i) => (i === axis ? varA(v) : c));
    const maxOver = (): KExpr => {
      const v = this.freshVar();
      return { k: 'reduce', op: 'max', vars: [{ v, extent }], body: this.load(x, at(v)) };
    };
    const sumExp = (): KExpr => {
      const v = this.freshVar();
      return { k: 'reduce', op: 'sum', vars: [{ v, extent }], body: { k: 'unary', fn: 'exp', a: { k: 'bin', op: '-', a: this.load(x, at(v)), b: maxOver() } } };
    };
    if (n.op === 'topk_mask') return this.topkExpr(n, coords, at);
    const shifted: KExpr = { k: 'bin', op: '-', a: this.load(x, coords), b: maxOver() };
    if (n.op === 'softmax') return { k: 'bin', op: '/', a: { k: 'unary', fn: 'exp', a: shifted }, b: sumExp() };
    return { k: 'bin', op: '-', a: shifted, b: { k: 'unary', fn: 'log', a: sumExp() } };
  }

  // Entry i is kept when rank_i = Σ_j [x_j > x_i] + [j < i]·[x_j = x_i] is below k (ties to the
  // lower index, as T.topkMask); [j < i] compares positions loaded from a constant iota buffer.
  private topkExpr(n: Node, coords: Coords, at: (v: string) => Coords): KExpr {
    const axis = n.attrs.axis as number;
    const extent = n.shape[axis];
    const x = n.inputs[0];
    const j = this.freshVar();
    const iota = this.constantBuffer('iota', extent);
    const H = (a: KExpr): KExpr => ({ k: 'unary', fn: 'heaviside', a });
    const sub = (a: KExpr, b: KExpr): KExpr => ({ k: 'bin', op: '-', a, b });
    const xi = this.load(x, coords);
    const xj = this.load(x, at(j));
    const before = H(sub({ k: 'load', buf: iota, at: coords[axis] }, { k: 'load', buf: iota, at: varA(j) }));
    const tie = sub({ k: 'const', v: 1 }, H({ k: 'unary', fn: 'abs', a: sub(xj, xi) }));
    const body: KExpr = { k: 'bin', op: '+', a: H(sub(xj, xi)), b: { k: 'bin', op: '*', a: before, b: tie } };
    const rank: KExpr = { k: 'reduce', op: 'sum', vars: [{ v: j, extent }], body };
    return H(sub({ k: 'const', v: (n.attrs.k as number) - 0.5 }, rank));
  }

  private computeExpr(n: Node, coords: Coords): KExpr {
    const ins = n.inputs;
    switch (n.op) {
      case 'add':
        return { k: 'bin', op: '+', a: this.exprOf(ins[0], coords, false), b: this.exprOf(ins[1], coords, false) };
      case 'pow':
        return { k: 'bin', op: 'pow', a: this.exprOf(ins[0], coords, false), b: this.exprOf(ins[1], coords, false) };
      case 'map':
        return { k: 'unary', fn: n.attrs.fn as UnaryName, a: this.exprOf(ins[0], coords, false) };
      case 'map_grad':
        return { k: 'unaryGrad', fn: n.attrs.fn as UnaryName, a: this.exprOf(ins[0], coords, false) };
      case 'untake': {
        const axis = n.attrs.axis as number;
        const inner = coords.filter((_, i) => i !== axis);
        const hot: KExpr = { k: 'load', buf: this.onehot(n.attrs.size as number, n.attrs.index as number), at: coords[axis] };
        return { k: 'bin', op: '*', a: this.exprOf(ins[0], inner, false), b: hot };
      }
      case 'reduce_max':
      case 'reduce_min': {
        const axes = n.attrs.axes as number[];
        const inShape = this.g.shape(ins[0]);
        const vars = axes.map((a) => ({ v: this.freshVar(), extent: inShape[a] }));
        let k = 0;
        let j = 0;
        const c = inShape.map((_, i) => (axes.includes(i) ? varA(vars[k++].v) : coords[j++]));
        const body = this.exprOf(ins[0], c, false);
        if (n.op === 'reduce_max') return { k: 'reduce', op: 'max', vars, body };
        const neg = (e: KExpr): KExpr => ({ k: 'bin', op: '*', a: { k: 'const', v: -1 }, b: e });
        return neg({ k: 'reduce', op: 'max', vars, body: neg(body) });
      }
      case 'einsum': {
        const s = parseSpec(n.attrs.spec as string);
        const at = new Map<string, Affine>();
        for (let i = 0; i < s.out.length; i++) at.set(s.out[i]!, coords[i]!);
        const vars = summedOf(s).map(({ ch, o, i }) => {
          const v = this.freshVar();
          at.set(ch, varA(v));
          return { v, extent: this.g.shape(ins[o])[i]! };
        });
        const factors = ins.map((id, o) => {
          const sub = s.ins[o]!;
          const c: Coords = [];
          for (let i = 0; i < sub.length; i++) c.push(at.get(sub[i]!)!);
          return this.exprOf(id, c, false);
        });
        const body = factors.reduce((a, b) => ({ k: 'bin', op: '*', a, b }));
        return vars.length ? { k: 'reduce', op: 'sum', vars, body } : body;
      }
    }
    throw new Error(`internal: cannot fuse primitive '${n.op}'`);
  }
}
