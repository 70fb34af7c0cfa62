// Fusion: group the optimised graph into kernels. Every node either gets its own buffer (a kernel
// writes it) or is inlined, as an expression, into the kernel of its single consumer:
//  - elementwise chains and views (broadcast, transpose, take) inline into their consumer;
//  - a contraction (einsum that sums) keeps plain buffer operands, so renderers can call a GEMM,
//    and absorbs its epilogue: the elementwise consumers of the same shape (scale, bias, residual,
//    activation) are computed in the same kernel;
//  - reductions take a fused elementwise prologue; softmax and reshape read a buffer.
// Buffers are then assigned to slots by liveness, so temporaries share memory.
import type { Graph, Id, Node } from '../ir/graph.ts';
import { primitive } from '../ir/prim.ts';
import { type EinsumSpec, parseSpec } from '../ir/prims/einsum.ts';
import { shiftMatrix } from '../ir/prims/select.ts';
import { shiftedEye } from '../interp/ops.ts';
import type { UnaryName } from '../../runtime/tensor/index.ts';
import { affine, exprLoads, type Affine, type BufferId, type BufferInfo, type Kernel, type KernelPlan, type KExpr } from './kernel-ir.ts';

type NodeClass = 'leaf' | 'const' | 'view' | 'elementwise' | 'contraction' | 'reduction' | 'rowwise' | 'reshape';

/** How each primitive fuses: a table, so a new primitive says it once. */
const CLASS_OF: Record<string, (n: Node) => NodeClass> = {
  input: () => 'leaf',
  param: () => 'leaf',
  const: () => 'const',
  fill: () => 'const',
  eye: () => 'leaf', // a constant buffer, fed once (see CONSTANT_LEAVES)
  iota: () => 'leaf',
  shift_matrix: () => 'leaf',
  slice: () => 'view',
  broadcast: () => 'view',
  take: () => 'view',
  untake: () => 'elementwise', // x · onehot: a product with a constant buffer
  reshape: () => 'reshape',
  add: () => 'elementwise',
  map: () => 'elementwise',
  map_grad: () => 'elementwise',
  pow: () => 'elementwise',
  stopgrad: () => 'view',
  softmax: () => 'rowwise',
  log_softmax: () => 'rowwise',
  topk_mask: () => 'rowwise',
  reduce_max: () => 'reduction',
  reduce_min: () => 'reduction',
  einsum(n) {
    const summed = summedOf(parseSpec(n.attrs.spec as string)).length > 0;
    if (!summed) return n.inputs.length === 1 ? 'view' : 'elementwise';
    return n.inputs.length === 1 ? 'reduction' : 'contraction';
  },
};

/** Leaves whose value is a constant given by their attributes (buffers fed once): their data. */
const CONSTANT_LEAVES: Partial<Record<string, (a: Record<string, unknown>) => Float64Array>> = {
  eye: ({ n, cols, offset }) => Float64Array.from(shiftedEye(n as number, (cols ?? n) as number, (offset ?? 0) as number).data),
  iota: ({ n }) => Float64Array.from({ length: n as number }, (_, i) => i),
  shift_matrix: (a) => shiftMatrix(a.rows as number, a.cols as number, a.offset as number).data,
};
const constantName = (op: string, a: Record<string, unknown>) => `const:${op}:${Object.keys(a).sort().map((k) => a[k]).join(':')}`;

export const classOf = (n: Node): NodeClass => {
  const f = CLASS_OF[n.op];
  if (!f) throw new Error(`internal: no fusion class for primitive '${n.op}'`);
  return f(n);
};

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
type Coords = Affine[];
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
const loopVar = names('i'), reduceVar = names('r');
const varA = (v: string): Affine => ({ terms: [{ v, c: 1 }], offset: 0 });
const constA = (c: number): Affine => ({ terms: [], offset: c });

/**
 * An einsum's summed letters in order of first appearance, each with where its extent is read (its
 * last occurrence: operand o, axis i), once per spec.
 */
const summedCache = new WeakMap<EinsumSpec, { ch: string; o: number; i: number }[]>();
function summedOf(s: EinsumSpec): { ch: string; o: number; i: number }[] {
  let r = summedCache.get(s);
  if (r) return r;
  const last = new Map<string, { o: number; i: number }>();
  s.ins.forEach((sub, o) => [...sub].forEach((ch, i) => last.set(ch, { o, i })));
  r = [...new Set(s.ins.join(''))].filter((ch) => !s.out.includes(ch)).map((ch) => ({ ch, ...last.get(ch)! }));
  summedCache.set(s, r);
  return r;
}

export interface FuseOptions {
  /** Outputs to compute (default: all graph outputs). */
  outputs?: string[];
}

export function planKernels(g: Graph, opts: FuseOptions = {}): KernelPlan & { constants: Map<string, Float64Array> } {
  const outNames = opts.outputs ?? [...g.outputs.keys()];
  // each node's class once (an einsum's parses its spec): the passes below ask it many times per node
  const classes = new Map<Node, NodeClass>();
  const nodeClass = (n: Node): NodeClass => {
    let c = classes.get(n);
    if (c === undefined) classes.set(n, (c = classOf(n)));
    return c;
  };
  const roots = outNames.map((n) => g.outputs.get(n)!);
  const order = g.live(roots);
  // g.uses(roots), from this order (it would walk the graph again)
  const uses = new Map<Id, number>();
  for (const id of order) for (const i of g.node(id).inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  for (const r of roots) uses.set(r, (uses.get(r) ?? 0) + 1);
  const consumers = new Map<Id, Id[]>();
  for (const id of order) for (const i of g.node(id).inputs) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(id);
  const isOutput = new Set(roots);

  // Which operands must be plain buffers (or views of buffers) for a consumer to read them.
  const needsBuffer = (consumer: Node): boolean => {
    const c = nodeClass(consumer);
    return c === 'contraction' || c === 'rowwise' || c === 'reshape';
  };
  const materialized = new Set<Id>();
  const readsBufferAsIs = (i: Id) => {
    if (materialized.has(i)) return true;
    const c = nodeClass(g.node(i));
    return c === 'leaf' || c === 'reshape';
  };
  const isScaledRead = (n: Node): boolean => {
    if (n.op !== 'einsum' || nodeClass(n) !== 'elementwise') return false;
    const nonConst = n.inputs.filter((i) => nodeClass(g.node(i)) !== 'const');
    return nonConst.length === 1 && readsBufferAsIs(nonConst[0]!);
  };
  for (const id of order) {
    const n = g.node(id);
    const cls = nodeClass(n);
    if (cls === 'leaf') continue;
    if (cls === 'const') {
      if (isOutput.has(id)) materialized.add(id);
      continue;
    }
    const cs = consumers.get(id) ?? [];
    // A reshape of a buffer is an affine load of that buffer (the same flat offset): its consumers read
    // the buffer in place instead of a copy — a GEMM reads it as a strided operand — unless they need
    // the reshaped value as a buffer of its own (another reshape, a rowwise op).
    const input = n.inputs[0]!;
    if (
      cls === 'reshape' && !isOutput.has(id) && (materialized.has(input) || nodeClass(g.node(input)) === 'leaf') &&
      cs.every((c) => nodeClass(g.node(c)) !== 'reshape' && nodeClass(g.node(c)) !== 'rowwise')
    )
      continue;
    const single = (uses.get(id) ?? 0) === 1 && cs.length === 1 && !isOutput.has(id);
    // A buffer times constants (attention's q · rsqrt(K)) inlines into its one contraction: the
    // product's constant factor becomes the GEMM's alpha instead of a scaling pass of its own.
    if (single && nodeClass(g.node(cs[0]!)) === 'contraction' && isScaledRead(n)) continue;
    if (!single) {
      materialized.add(id);
      continue;
    }
    const consumer = g.node(cs[0]);
    const ccls = nodeClass(consumer);
    // A reshape reads its input's flat layout, so even a view must be a real buffer there.
    if (needsBuffer(consumer) && (cls !== 'view' || ccls === 'reshape')) materialized.add(id);
    else if (cls === 'contraction' || cls === 'reduction' || cls === 'rowwise' || cls === 'reshape') {
      // A reduce inlines only as an epilogue: into an elementwise consumer over the same shape.
      const sameShape = consumer.shape.length === n.shape.length && consumer.shape.every((d, i) => d === n.shape[i]);
      if (!(ccls === 'elementwise' && sameShape && cls !== 'reshape')) materialized.add(id);
    }
  }
  // Views of something that must be a buffer: their input must then be a buffer (a reshape left as
  // a load of its buffer above already is one, read through the view's coordinates).
  const readsBuffer = (i: Id) => {
    const c = nodeClass(g.node(i));
    return c === 'leaf' || c === 'view' || c === 'reshape';
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const id of order) {
      const n = g.node(id);
      if (materialized.has(id) || nodeClass(n) !== 'view') continue;
      const cs = consumers.get(id) ?? [];
      if (cs.some((c) => needsBuffer(g.node(c))) && n.inputs.some((i) => !materialized.has(i) && !readsBuffer(i))) {
        for (const i of n.inputs) if (!materialized.has(i) && nodeClass(g.node(i)) !== 'leaf' && nodeClass(g.node(i)) !== 'reshape') {
          materialized.add(i);
          changed = true;
        }
      }
    }
  }

  // One contraction per kernel (so a renderer can run it as one GEMM with an epilogue): where an
  // epilogue would absorb several, the cheaper ones get their own kernels. The pass that changes
  // nothing leaves each kernel's fused nodes in fusedOf (the kernels below are made of them).
  const fusedOf = new Map<Id, Id[]>();
  for (let changed = true; changed; ) {
    changed = false;
    fusedOf.clear();
    for (const id of order) {
      if (!materialized.has(id)) continue;
      const all = collectFused(g, id, materialized, nodeClass);
      fusedOf.set(id, all);
      const fused = all.filter((f) => f !== id && nodeClass(g.node(f)) === 'contraction');
      const own = nodeClass(g.node(id)) === 'contraction' ? 1 : 0;
      if (fused.length + own <= 1) continue;
      const flopsOf = (f: Id) => primitive(g.node(f).op).flops(g.node(f), g);
      const keep = own ? undefined : fused.reduce((a, b) => (flopsOf(a) >= flopsOf(b) ? a : b));
      for (const f of fused) if (f !== keep) materialized.add(f);
      changed = true;
    }
  }

  // Buffers.
  const buffers: BufferInfo[] = [];
  const bufOf = new Map<Id, BufferId>();
  const leaves = new Map<string, BufferId>();
  const constants = new Map<string, Float64Array>();
  const newBuf = (shape: number[], kind: BufferInfo['kind'], name?: string) => {
    const id = buffers.length;
    buffers.push({ id, shape, size: shape.reduce((a, b) => a * b, 1), kind, name });
    return id;
  };
  for (const id of order) {
    const n = g.node(id);
    if (nodeClass(n) === 'leaf') {
      const constant = CONSTANT_LEAVES[n.op];
      const name = constant ? constantName(n.op, n.attrs) : (n.attrs.name as string);
      if (constant) constants.set(name, constant(n.attrs));
      const b = leaves.get(name) ?? newBuf(n.shape, n.op === 'param' ? 'param' : 'input', name);
      leaves.set(name, b);
      bufOf.set(id, b);
    }
  }

  // Expressions.
  let fresh = 0;
  const freshVar = () => reduceVar(fresh++);
  const load = (id: Id, coords: Coords): KExpr => ({ k: 'load', buf: bufOf.get(id)!, at: flat(coords, g.shape(id)) });
  const constantBuffer = (op: string, size: number): BufferId => {
    const name = constantName(op, { n: size });
    if (!leaves.has(name)) {
      constants.set(name, CONSTANT_LEAVES[op]!({ n: size }));
      leaves.set(name, newBuf([size], 'input', name));
    }
    return leaves.get(name)!;
  };
  const onehot = (size: number, index: number): BufferId => {
    const name = `const:onehot:${size}:${index}`;
    if (!leaves.has(name)) {
      const data = new Float64Array(size);
      data[index] = 1;
      constants.set(name, data);
      leaves.set(name, newBuf([size], 'input', name));
    }
    return leaves.get(name)!;
  };

  const exprOf = (id: Id, coords: Coords, root: boolean): KExpr => {
    const n = g.node(id);
    if (!root && bufOf.has(id)) return load(id, coords);
    const ins = n.inputs;
    switch (nodeClass(n)) {
      case 'const':
        return { k: 'const', v: n.attrs.value as number };
      case 'leaf':
        return load(id, coords);
      case 'reshape':
        // The input is a buffer: the same flat offset, addressed in the new shape.
        return { k: 'load', buf: bufOf.get(ins[0])!, at: flat(coords, n.shape) };
      case 'view':
        return viewExpr(n, coords);
      case 'rowwise':
        return rowwiseExpr(n, coords);
      default:
        return computeExpr(n, coords);
    }
  };

  const viewExpr = (n: Node, coords: Coords): KExpr => {
    const [x] = n.inputs;
    if (n.op === 'stopgrad') return exprOf(x, coords, false);
    if (n.op === 'broadcast') {
      const map = n.attrs.map as number[];
      const inShape = g.shape(x);
      return exprOf(x, inShape.map((d, i) => (d === 1 && n.shape[map[i]] !== 1 ? constA(0) : coords[map[i]])), false);
    }
    if (n.op === 'slice') {
      const axis = n.attrs.axis as number;
      return exprOf(x, coords.map((c, i) => (i === axis ? add(c, constA(n.attrs.lo as number)) : c)), false);
    }
    if (n.op === 'take') {
      const axis = n.attrs.axis as number;
      const c = [...coords];
      c.splice(axis, 0, constA(n.attrs.index as number));
      return exprOf(x, c, false);
    }
    // A one-operand einsum without sums: a transpose (or identity).
    const s = parseSpec(n.attrs.spec as string);
    const at = new Map([...s.out].map((ch, i) => [ch, coords[i]]));
    return exprOf(x, [...s.ins[0]].map((ch) => at.get(ch)!), false);
  };

  const rowwiseExpr = (n: Node, coords: Coords): KExpr => {
    const axis = n.attrs.axis as number;
    const extent = n.shape[axis];
    const x = n.inputs[0];
    const at = (v: string) => coords.map((c, i) => (i === axis ? varA(v) : c));
    const maxOver = (): KExpr => {
      const v = freshVar();
      return { k: 'reduce', op: 'max', vars: [{ v, extent }], body: load(x, at(v)) };
    };
    const sumExp = (): KExpr => {
      const v = freshVar();
      return { k: 'reduce', op: 'sum', vars: [{ v, extent }], body: { k: 'unary', fn: 'exp', a: { k: 'bin', op: '-', a: load(x, at(v)), b: maxOver() } } };
    };
    if (n.op === 'topk_mask') return topkExpr(n, coords, at);
    const shifted: KExpr = { k: 'bin', op: '-', a: load(x, coords), b: maxOver() };
    if (n.op === 'softmax') return { k: 'bin', op: '/', a: { k: 'unary', fn: 'exp', a: shifted }, b: sumExp() };
    return { k: 'bin', op: '-', a: shifted, b: { k: 'unary', fn: 'log', a: sumExp() } };
  };

  // Entry i is kept when rank_i = Σ_j [x_j > x_i] + [j < i]·[x_j = x_i] is below k (ties to the
  // lower index, as T.topkMask); [j < i] compares positions loaded from a constant iota buffer.
  const topkExpr = (n: Node, coords: Coords, at: (v: string) => Coords): KExpr => {
    const axis = n.attrs.axis as number;
    const extent = n.shape[axis];
    const x = n.inputs[0];
    const j = freshVar();
    const iota = constantBuffer('iota', extent);
    const H = (a: KExpr): KExpr => ({ k: 'unary', fn: 'heaviside', a });
    const sub = (a: KExpr, b: KExpr): KExpr => ({ k: 'bin', op: '-', a, b });
    const xi = load(x, coords);
    const xj = load(x, at(j));
    const before = H(sub({ k: 'load', buf: iota, at: coords[axis] }, { k: 'load', buf: iota, at: varA(j) }));
    const tie = sub({ k: 'const', v: 1 }, H({ k: 'unary', fn: 'abs', a: sub(xj, xi) }));
    const body: KExpr = { k: 'bin', op: '+', a: H(sub(xj, xi)), b: { k: 'bin', op: '*', a: before, b: tie } };
    const rank: KExpr = { k: 'reduce', op: 'sum', vars: [{ v: j, extent }], body };
    return H(sub({ k: 'const', v: (n.attrs.k as number) - 0.5 }, rank));
  };

  const computeExpr = (n: Node, coords: Coords): KExpr => {
    const ins = n.inputs;
    switch (n.op) {
      case 'add':
        return { k: 'bin', op: '+', a: exprOf(ins[0], coords, false), b: exprOf(ins[1], coords, false) };
      case 'pow':
        return { k: 'bin', op: 'pow', a: exprOf(ins[0], coords, false), b: exprOf(ins[1], coords, false) };
      case 'map':
        return { k: 'unary', fn: n.attrs.fn as UnaryName, a: exprOf(ins[0], coords, false) };
      case 'map_grad':
        return { k: 'unaryGrad', fn: n.attrs.fn as UnaryName, a: exprOf(ins[0], coords, false) };
      case 'untake': {
        const axis = n.attrs.axis as number;
        const inner = coords.filter((_, i) => i !== axis);
        const hot: KExpr = { k: 'load', buf: onehot(n.attrs.size as number, n.attrs.index as number), at: coords[axis] };
        return { k: 'bin', op: '*', a: exprOf(ins[0], inner, false), b: hot };
      }
      case 'reduce_max':
      case 'reduce_min': {
        const axes = n.attrs.axes as number[];
        const inShape = g.shape(ins[0]);
        const vars = axes.map((a) => ({ v: freshVar(), extent: inShape[a] }));
        let k = 0;
        let j = 0;
        const c = inShape.map((_, i) => (axes.includes(i) ? varA(vars[k++].v) : coords[j++]));
        const body = exprOf(ins[0], c, false);
        if (n.op === 'reduce_max') return { k: 'reduce', op: 'max', vars, body };
        const neg = (e: KExpr): KExpr => ({ k: 'bin', op: '*', a: { k: 'const', v: -1 }, b: e });
        return neg({ k: 'reduce', op: 'max', vars, body: neg(body) });
      }
      case 'einsum': {
        const s = parseSpec(n.attrs.spec as string);
        const at = new Map<string, Affine>();
        for (let i = 0; i < s.out.length; i++) at.set(s.out[i]!, coords[i]!);
        const vars = summedOf(s).map(({ ch, o, i }) => {
          const v = freshVar();
          at.set(ch, varA(v));
          return { v, extent: g.shape(ins[o])[i]! };
        });
        const factors = ins.map((id, o) => {
          const sub = s.ins[o]!;
          const c: Coords = [];
          for (let i = 0; i < sub.length; i++) c.push(at.get(sub[i]!)!);
          return exprOf(id, c, false);
        });
        const body = factors.reduce((a, b) => ({ k: 'bin', op: '*', a, b }));
        return vars.length ? { k: 'reduce', op: 'sum', vars, body } : body;
      }
    }
    throw new Error(`internal: cannot fuse primitive '${n.op}'`);
  };

  // Kernels, in topological order.
  const kernels: Kernel[] = [];
  for (const id of order) {
    if (!materialized.has(id)) continue;
    const n = g.node(id);
    const out = newBuf(n.shape, 'temp');
    const loops = n.shape.map((extent, i) => ({ v: loopVar(i), extent }));
    fresh = 0;
    const body = exprOf(id, loops.map((l) => varA(l.v)), true);
    bufOf.set(id, out);
    const inputs = [...exprLoads(body)];
    const kidx = kernels.length;
    const nodes = fusedOf.get(id)!;
    const flops = nodes.reduce((a, f) => a + primitive(g.node(f).op).flops(g.node(f), g), 0);
    const hasContraction = nodes.some((f) => nodeClass(g.node(f)) === 'contraction');
    const hasReduce = nodes.some((f) => ['reduction', 'rowwise'].includes(nodeClass(g.node(f))));
    kernels.push({
      name: `k${kidx}_${n.op}${n.loc ? `_L${n.loc.line}` : ''}`,
      kind: hasContraction ? 'contraction' : hasReduce ? 'reduction' : 'elementwise',
      out,
      loops,
      body,
      inputs,
      flops,
      bytes: 4 * (n.shape.reduce((a, b) => a * b, 1) + inputs.reduce((a, b) => a + buffers[b].size, 0)),
      nodes,
    });
  }
  const outputs = new Map<string, BufferId>();
  for (const name of outNames) {
    const b = bufOf.get(g.outputs.get(name)!)!;
    outputs.set(name, b);
    if (buffers[b].kind === 'temp' && !buffers[b].name) buffers[b].name = name;
  }
  const { slots, slotSizes } = assignSlots(buffers, kernels, new Set(outputs.values()));
  return { buffers, kernels, outputs, leaves, args: [], slots, slotSizes, constants };
}

/** The nodes a kernel computes: its root and every non-materialised node it inlines. */
function collectFused(g: Graph, root: Id, materialized: Set<Id>, nodeClass: (n: Node) => NodeClass = classOf): Id[] {
  const out: Id[] = [];
  visitFused(g, root, true, materialized, nodeClass, new Set<Id>(), out);
  return out;
}

// (not a closure per call: under tsx every named closure is an Object.defineProperty — esbuild's keepNames)
function visitFused(g: Graph, id: Id, isRoot: boolean, materialized: Set<Id>, nodeClass: (n: Node) => NodeClass, seen: Set<Id>, out: Id[]): void {
  if (seen.has(id)) return;
  seen.add(id);
  const n = g.node(id);
  const cls = nodeClass(n);
  if (!isRoot && (materialized.has(id) || cls === 'leaf' || cls === 'const')) return;
  out.push(id);
  for (const i of n.inputs) visitFused(g, i, false, materialized, nodeClass, seen, out);
}

/** Liveness-based reuse: a temp's slot is free after its last reader; outputs keep theirs. */
export function assignSlots(buffers: BufferInfo[], kernels: Kernel[], keep: Set<BufferId>) {
  const lastUse = new Map<BufferId, number>();
  kernels.forEach((k, i) => k.inputs.forEach((b) => lastUse.set(b, i)));
  const slots = new Map<BufferId, number>();
  const slotSizes: number[] = [];
  const free: number[] = [];
  kernels.forEach((k, i) => {
    const size = buffers[k.out].size;
    // Best fit among free slots, else a new one.
    let pick = -1;
    for (const s of free) if (slotSizes[s] >= size && (pick < 0 || slotSizes[s] < slotSizes[pick])) pick = s;
    if (pick < 0 && free.length) pick = free.reduce((a, b) => (slotSizes[a] > slotSizes[b] ? a : b));
    if (pick >= 0) {
      free.splice(free.indexOf(pick), 1);
      slotSizes[pick] = Math.max(slotSizes[pick], size);
    } else {
      pick = slotSizes.length;
      slotSizes.push(size);
    }
    slots.set(k.out, pick);
    // Release inputs whose last reader is this kernel (after the write: a kernel never reads and writes one slot).
    for (const b of new Set(k.inputs)) if (lastUse.get(b) === i && slots.has(b) && !keep.has(b)) free.push(slots.get(b)!);
    if (!lastUse.has(k.out) && !keep.has(k.out)) free.push(pick);
  });
  return { slots, slotSizes };
}
