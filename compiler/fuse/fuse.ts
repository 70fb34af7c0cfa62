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
import { parseSpec } from '../ir/prims/einsum.ts';
import { exprLoads, type BufferId, type BufferInfo, type Kernel, type KernelPlan } from './kernel-ir.ts';
import { CONSTANT_LEAVES, constantName, KernelExprs, loopVar, type NodeClass, summedOf, varA } from './kernel-expr.ts';



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


export const classOf = (n: Node): NodeClass => {
  const f = CLASS_OF[n.op];
  if (!f) throw new Error(`internal: no fusion class for primitive '${n.op}'`);
  return f(n);
};

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

  // Expressions: each kernel's body (compiler/fuse/kernel-expr.ts), constant leaves it needs added here.
  const constantLeaf = (name: string, size: number, data: () => Float64Array): BufferId => {
    if (!leaves.has(name)) {
      constants.set(name, data());
      leaves.set(name, newBuf([size], 'input', name));
    }
    return leaves.get(name)!;
  };
  const exprs = new KernelExprs(g, bufOf, nodeClass, constantLeaf);

  // Kernels, in topological order.
  const kernels: Kernel[] = [];
  for (const id of order) {
    if (!materialized.has(id)) continue;
    const n = g.node(id);
    const out = newBuf(n.shape, 'temp');
    const loops = n.shape.map((extent, i) => ({ v: loopVar(i), extent }));
    const body = exprs.kernelBody(id, loops.map((l) => varA(l.v)));
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
