// The hash-consing key of a node's attributes (stableJson): the fast version against the plain one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Graph, stableJson } from './graph.ts';
import { primitive } from './prim.ts';
import './prims.ts';

/** The definition: arrays and objects mapped element by element, object keys sorted, undefined fields left out. */
function reference(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${k}:${reference((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

describe('stableJson', () => {
  it('is the plain definition, for any JSON-like value with undefined fields and holes (property)', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.string(), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined)),
      arr: fc.array(tie('any'), { maxLength: 4 }),
      obj: fc.dictionary(fc.string({ maxLength: 3 }), tie('any'), { maxKeys: 4 }),
      any: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('arr'), tie('obj')),
    })).any;
    fc.assert(
      fc.property(value, (v) => {
        expect(stableJson(v)).toBe(reference(v));
      }),
      { seed: 13, numRuns: 500 },
    );
  });
  it('orders keys, so equal attributes hash equal', () => {
    expect(stableJson({ b: 1, a: [2, { d: 'x', c: undefined }] })).toBe(stableJson({ a: [2, { d: 'x' }], b: 1 }));
    expect(stableJson(Float64Array.of(1, 2))).toBe(reference(Float64Array.of(1, 2)));
  });
});

/** The hash-consing definition: a node per distinct (op, inputs, attrs text), keyed by one string. */
class StringKeyedGraph extends Graph {
  private readonly byKey = new Map<string, number>();
  override add(op: string, inputs: number[], attrs: Record<string, unknown> = {}): number {
    const prim = primitive(op);
    const norm = prim.normalize?.(this, inputs, attrs);
    if (norm !== undefined) return norm;
    const key = `${op}|${inputs.join(',')}|${stableJson(attrs)}`;
    const hit = this.byKey.get(key);
    if (hit !== undefined) return hit;
    const id = this.nodes.length;
    this.nodes.push({ id, op, inputs, attrs, shape: prim.shape(inputs.map((i) => this.nodes[i].shape), attrs) });
    this.byKey.set(key, id);
    return id;
  }
}

/** A random program of [2]-shaped values: leaves with equal or different attrs, unary maps, sums and products. */
const steps = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('leaf' as const), name: fc.constantFrom('x', 'y', 'z') }),
    fc.record({ kind: fc.constant('map' as const), fn: fc.constantFrom('exp', 'relu', 'tanh'), a: fc.nat() }),
    fc.record({ kind: fc.constant('add' as const), a: fc.nat(), b: fc.nat() }),
    fc.record({ kind: fc.constant('einsum' as const), spec: fc.constantFrom('a->a', 'a,a->a', 'a,a,a->a', 'ab,a->b'), a: fc.nat(), b: fc.nat(), c: fc.nat() }),
  ),
  { minLength: 1, maxLength: 60 },
);

function build(g: Graph, program: typeof steps extends fc.Arbitrary<infer T> ? T : never): number[] {
  const made: number[] = [];
  const pick = (k: number) => made[k % made.length];
  for (const s of program) {
    if (s.kind === 'leaf' || !made.length) made.push(g.add('input', [], { name: s.kind === 'leaf' ? s.name : 'x', shape: [2] }));
    else if (s.kind === 'map') made.push(g.add('map', [pick(s.a)], { fn: s.fn }));
    else if (s.kind === 'add') made.push(g.add('add', [pick(s.a), pick(s.b)]));
    else if (s.spec === 'ab,a->b') made.push(g.add('einsum', [g.add('broadcast', [pick(s.a)], { shape: [2, 2], map: [1] }), pick(s.b)], { spec: s.spec }));
    else made.push(g.add('einsum', [pick(s.a), pick(s.b), pick(s.c)].slice(0, s.spec.split(',').length), { spec: s.spec }));
  }
  return made;
}

describe('hash-consing (Graph.add)', () => {
  it('returns the same nodes as a string-keyed memo: equal op, inputs and attrs text, the same node (property)', () => {
    fc.assert(
      fc.property(steps, (program) => {
        const fast = new Graph();
        const plain = new StringKeyedGraph();
        expect(build(fast, program)).toEqual(build(plain, program));
        expect(fast.nodes.map((n) => [n.op, n.inputs, stableJson(n.attrs), n.shape])).toEqual(plain.nodes.map((n) => [n.op, n.inputs, stableJson(n.attrs), n.shape]));
      }),
      { seed: 11, numRuns: 300 },
    );
  });
  it('finds a node again from a fresh attrs object with the same content, and tells different attrs apart', () => {
    const g = new Graph();
    const x = g.add('input', [], { name: 'x', shape: [2] });
    expect(g.add('input', [], { shape: [2], name: 'x' })).toBe(x);
    expect(g.add('input', [], { name: 'y', shape: [2] })).not.toBe(x);
    expect(g.add('map', [x], { fn: 'exp' })).toBe(g.add('map', [x], { fn: 'exp' }));
    expect(g.add('map', [x], { fn: 'exp' })).not.toBe(g.add('map', [x], { fn: 'relu' }));
  });
});

describe('Graph.live', () => {
  it('lists the nodes reachable from the roots, each after its inputs in input order (property, against a recursive walk)', () => {
    fc.assert(
      fc.property(steps, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), (program, rootPicks) => {
        const g = new Graph();
        const made = build(g, program);
        const roots = rootPicks.map((k) => made[k % made.length]);
        const seen = new Set<number>();
        const order: number[] = [];
        const visit = (id: number) => {
          if (seen.has(id)) return;
          seen.add(id);
          for (const i of g.node(id).inputs) visit(i);
          order.push(id);
        };
        roots.forEach(visit);
        expect(g.live(roots)).toEqual(order);
      }),
      { seed: 12, numRuns: 300 },
    );
  });
});

describe('copyOf (a rebuild copying a node)', () => {
  const source = () => {
    const g = new Graph();
    const a = g.add('param', [], { name: 'a', shape: [2, 3], trainable: true });
    const b = g.add('param', [], { name: 'b', shape: [3, 4], trainable: true });
    return { g, a, b, ab: g.add('einsum', [a, b], { spec: 'ab,bc->ac' }) };
  };
  it('is the node add would find or build, also when the inputs come in another order', () => {
    for (const reversed of [false, true]) {
      const { g, a, b, ab } = source();
      const h = new Graph();
      const ids = reversed ? [h.copyOf(g, g.node(b), []), h.copyOf(g, g.node(a), [])].reverse() : [h.copyOf(g, g.node(a), []), h.copyOf(g, g.node(b), [])];
      const copied = h.copyOf(g, g.node(ab), ids);
      expect(copied).toBe(h.add('einsum', ids, { spec: 'ab,bc->ac' }));
      expect(h.node(copied).shape).toEqual([2, 4]);
      // in the canonical form, operands by id: reversed, b comes first
      expect(h.node(copied).inputs).toEqual(reversed ? [ids[1], ids[0]] : ids);
    }
  });
});
