// einsum: every sum of products — matmul, batched matmul, Hadamard products, scaling, sums over
// axes, transposes, outer products. One primitive so that the contraction optimiser sees whole
// sums of products, and so that its VJP is one rule: the gradient of an operand is the einsum of
// the cotangent with the other operands.
import * as T from '../../../runtime/tensor/index.ts';
import { attrsText, type Attrs, type Graph, type Id } from '../graph.ts';
import { definePrim, numelOf } from '../prim.ts';

export interface EinsumSpec {
  ins: string[];
  out: string;
}

// Specs repeat across a graph and its rebuilds (every shape, FLOP count and rule reads them), so
// each is split once; the result is frozen, as it is shared.
const parsedSpecs = new Map<string, EinsumSpec>();
export const parseSpec = (spec: string): EinsumSpec => {
  let s = parsedSpecs.get(spec);
  if (!s) {
    const [lhs, out] = spec.split('->');
    s = Object.freeze({ ins: Object.freeze(lhs.split(',')) as string[], out });
    if (parsedSpecs.size > 100_000) parsedSpecs.clear();
    parsedSpecs.set(spec, s);
  }
  return s;
};
export const formatSpec = (s: EinsumSpec) => `${s.ins.join(',')}->${s.out}`;

// The attrs of an einsum node, one frozen object per spec: the hot rewrites build the same specs
// again and again, and a shared object's text and hash are remembered by the graph (attrsText).
const specAttrsMemo = new Map<string, Attrs>();
export const specAttrs = (spec: string): Attrs => {
  let a = specAttrsMemo.get(spec);
  if (!a) {
    if (specAttrsMemo.size > 100_000) specAttrsMemo.clear();
    a = { spec };
    attrsText(a); // remembered on the object before it is frozen
    specAttrsMemo.set(spec, Object.freeze(a));
  }
  return a;
};

// (plain loops over the index strings: every node added and every FLOP count comes through here)
export function indexSizes(s: EinsumSpec, shapes: number[][]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (let o = 0; o < s.ins.length; o++) {
    const sub = s.ins[o];
    for (let i = 0; i < sub.length; i++) {
      const c = sub[i];
      const prev = sizes.get(c);
      if (prev !== undefined && prev !== shapes[o][i]) throw new Error(`internal: einsum ${formatSpec(s)}: index ${c} is ${prev} and ${shapes[o][i]}`);
      sizes.set(c, shapes[o][i]);
    }
  }
  return sizes;
}

// Per-letter marks for the hot loops below (shapes and FLOP counts of every node): the letter with
// code c was seen in the current call when letterMark[c] === mark. Letters are ASCII (LETTERS);
// a spec with any other character takes the general path.
const letterMark = new Int32Array(128);
const letterSize = new Float64Array(128);
let mark = 0;
const nextMark = () => {
  if (++mark === 0x7fffffff) letterMark.fill(0), (mark = 1);
  return mark;
};

/** The output shape of an einsum: indexSizes' checks and answer, without building its map. */
export function einsumShape(s: EinsumSpec, shapes: number[][]): number[] {
  const m = nextMark();
  for (let o = 0; o < s.ins.length; o++) {
    const sub = s.ins[o];
    const shape = shapes[o];
    for (let i = 0; i < sub.length; i++) {
      const c = sub.charCodeAt(i);
      if (c >= 128) {
        const sizes = indexSizes(s, shapes);
        return [...s.out].map((l) => sizes.get(l)!);
      }
      if (letterMark[c] === m) {
        if (letterSize[c] !== shape[i]) throw new Error(`internal: einsum ${formatSpec(s)}: index ${sub[i]} is ${letterSize[c]} and ${shape[i]}`);
      } else {
        letterMark[c] = m;
        letterSize[c] = shape[i];
      }
    }
  }
  const out = new Array<number>(s.out.length);
  for (let i = 0; i < s.out.length; i++) {
    const c = s.out.charCodeAt(i);
    out[i] = letterMark[c] === m ? letterSize[c] : (undefined as unknown as number);
  }
  return out;
}

/** FLOPs of one einsum: (multiplications + one addition when something is summed) per point of the index space. */
export function einsumFlops(s: EinsumSpec, sizes: Map<string, number>): number {
  // every index of the operands once (the output's are among them), and whether one is summed
  let space = 1;
  let summed = false;
  const m = nextMark();
  for (const sub of s.ins)
    for (let i = 0; i < sub.length; i++) {
      const code = sub.charCodeAt(i);
      if (code >= 128) return einsumFlopsGeneral(s, sizes);
      if (letterMark[code] === m) continue;
      letterMark[code] = m;
      const c = sub[i];
      space *= sizes.get(c)!;
      if (!s.out.includes(c)) summed = true;
    }
  const ops = s.ins.length - 1 + (summed ? 1 : 0);
  return space * ops;
}

/** einsumFlops of a node's operand shapes (checked when the node was built). */
function einsumFlopsOfShapes(s: EinsumSpec, shapes: number[][]): number {
  let space = 1;
  let summed = false;
  const m = nextMark();
  for (let o = 0; o < s.ins.length; o++) {
    const sub = s.ins[o];
    for (let i = 0; i < sub.length; i++) {
      const code = sub.charCodeAt(i);
      if (code >= 128) return einsumFlopsGeneral(s, indexSizes(s, shapes));
      if (letterMark[code] === m) continue;
      letterMark[code] = m;
      space *= shapes[o][i];
      if (!s.out.includes(sub[i])) summed = true;
    }
  }
  return space * (s.ins.length - 1 + (summed ? 1 : 0));
}

function einsumFlopsGeneral(s: EinsumSpec, sizes: Map<string, number>): number {
  let space = 1;
  let summed = false;
  const counted = new Set<string>();
  for (const sub of s.ins)
    for (let i = 0; i < sub.length; i++) {
      const c = sub[i];
      if (counted.has(c)) continue;
      counted.add(c);
      space *= sizes.get(c)!;
      if (!s.out.includes(c)) summed = true;
    }
  const ops = s.ins.length - 1 + (summed ? 1 : 0);
  return space * ops;
}

/**
 * Canonical form, so equal contractions hash equal: operands sorted by id (scalars first), letters
 * renamed in order of first appearance. Returns undefined when already canonical.
 */
export function canonical(inputs: Id[], s: EinsumSpec, tieBySub = true): { inputs: Id[]; spec: string } {
  const order = inputs.map((id, k) => ({ id, sub: s.ins[k], k })).sort((a, b) => a.id - b.id || (tieBySub ? (a.sub < b.sub ? -1 : a.sub > b.sub ? 1 : 0) : a.k - b.k));
  const rename = new Map<string, string>();
  const letter = (c: string) => {
    if (!rename.has(c)) rename.set(c, LETTERS[rename.size]);
    return rename.get(c)!;
  };
  for (const c of s.out) letter(c); // output letters first: stable names for the result's axes
  const ins = order.map((o) => [...o.sub].map(letter).join(''));
  const out = [...s.out].map(letter).join('');
  return { inputs: order.map((o) => o.id), spec: `${ins.join(',')}->${out}` };
}

/** Index letters of einsum specs (the tensor library accepts these): a net has at most 52 indices. */
export const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Letters not used in a spec, for building new specs; fewer than n when the alphabet runs out. */
export function freshLetters(used: string, n: number): string[] {
  const fresh: string[] = [];
  for (let i = 0; i < LETTERS.length && fresh.length < n; i++) if (!used.includes(LETTERS[i])) fresh.push(LETTERS[i]);
  return fresh;
}

export const einsum = (g: Graph, spec: string, ...inputs: Id[]): Id => g.add('einsum', inputs, { spec });

// The canonical form depends on the operand ids and the spec only, and every rebuild of a graph
// asks again for the same pairs (a whole model: ~10⁴ times per compile), so it is remembered.
const canonicalMemo = new Map<string, { inputs: Id[]; spec: string } | 'identity' | null>();

// Marks for alreadyCanonical's letters: the letter with code c was seen in this call when seen[c] === stamp.
const seen = new Int32Array(128);
let stamp = 0;

/**
 * Whether canonical() would return the einsum unchanged: operands by id (ties by index string) and
 * letters named in order of first appearance, output first. Rebuilding a graph adds nodes in
 * topological order, so most einsums are canonical already; this answers without allocating.
 */
export function alreadyCanonical(inputs: Id[], s: EinsumSpec): boolean {
  for (let k = 1; k < inputs.length; k++) if (inputs[k] < inputs[k - 1] || (inputs[k] === inputs[k - 1] && s.ins[k] < s.ins[k - 1])) return false;
  if (++stamp === 0x7fffffff) seen.fill(0), (stamp = 1);
  let next = lettersInOrder(s.out, 0);
  for (let k = 0; k < s.ins.length && next >= 0; k++) next = lettersInOrder(s.ins[k], next);
  return next >= 0;
}

/** alreadyCanonical's walk over one index string: the next letter expected after it, -1 when out of order. */
function lettersInOrder(sub: string, next: number): number {
  for (let i = 0; i < sub.length; i++) {
    const c = sub.charCodeAt(i);
    if (c >= 128) return -1;
    if (seen[c] === stamp) continue;
    if (c !== LETTERS.charCodeAt(next)) return -1;
    seen[c] = stamp;
    next++;
  }
  return next;
}

/** 'identity' for a no-op einsum, null when already canonical, else the canonical operands and spec. */
function canonicalForm(inputs: Id[], spec: string): { inputs: Id[]; spec: string } | 'identity' | null {
  const parsed = parseSpec(spec);
  if (!(inputs.length === 1 && parsed.ins[0] === parsed.out) && alreadyCanonical(inputs, parsed)) return null;
  const key = `${spec}|${inputs.join(',')}`;
  let c = canonicalMemo.get(key);
  if (c !== undefined) return c;
  const s = parseSpec(spec);
  if (inputs.length === 1 && s.ins[0] === s.out) c = 'identity';
  else {
    let f = canonical(inputs, s);
    // One operand repeated under different index strings can make sorting by index string and
    // renaming chase each other forever; then operands keep their order (a fixed point at once).
    const again = canonical(f.inputs, parseSpec(f.spec));
    if (again.spec !== f.spec) f = canonical(inputs, s, false);
    c = f.spec !== spec || f.inputs.some((id, k) => id !== inputs[k]) ? f : null;
  }
  if (canonicalMemo.size > 100_000) canonicalMemo.clear();
  canonicalMemo.set(key, c);
  return c;
}

definePrim({
  name: 'einsum',
  doc: 'sum of products over named indices (matmul, scaling, reductions, transposes)',
  shape(shapes, attrs) {
    const s = parseSpec(attrs.spec as string);
    if (s.ins.length !== shapes.length) throw new Error(`internal: einsum ${attrs.spec} with ${shapes.length} operands`);
    for (let o = 0; o < s.ins.length; o++) if (s.ins[o].length !== shapes[o].length) throw new Error(`internal: einsum ${attrs.spec}: operand ${o} has rank ${shapes[o].length}`);
    return einsumShape(s, shapes);
  },
  axes(inputs, node) {
    const s = parseSpec(node.attrs.spec as string);
    const byLetter = new Map<string, string>();
    s.ins.forEach((sub, o) => [...sub].forEach((c, k) => inputs[o][k] !== undefined && !byLetter.has(c) && byLetter.set(c, inputs[o][k]!)));
    return [...s.out].map((c) => byLetter.get(c));
  },
  eval: (ins, attrs) => T.einsum(attrs.spec as string, ...ins),
  normalOnOrder: true,
  normalize(g, inputs, attrs) {
    const c = canonicalForm(inputs, attrs.spec as string);
    if (c === 'identity') return inputs[0];
    if (c) return g.add('einsum', c.inputs, specAttrs(c.spec));
    return undefined;
  },
  vjp({ g, node, ct }) {
    const s = parseSpec(node.attrs.spec as string);
    return node.inputs.map((_, i) => {
      const target = s.ins[i];
      const others = node.inputs.filter((__, k) => k !== i);
      const otherSubs = s.ins.filter((__, k) => k !== i);
      // Indices only operand i had (it was summed over them alone): the gradient is constant along them.
      const dedup = lettersAmong(target, [s.out, ...otherSubs]);
      let grad = g.add('einsum', [ct, ...others], specAttrs(`${s.out}${otherSubs.length ? ',' : ''}${otherSubs.join(',')}->${dedup}`));
      if (dedup !== target) {
        const shape = g.shape(node.inputs[i]);
        grad = g.add('broadcast', [grad], { shape, map: [...dedup].map((c) => target.indexOf(c)) });
      }
      return grad;
    });
  },
  flops(node, g) {
    const ins = node.inputs;
    const shapes = new Array<number[]>(ins.length);
    for (let k = 0; k < ins.length; k++) shapes[k] = g.shape(ins[k]);
    return einsumFlopsOfShapes(parseSpec(node.attrs.spec as string), shapes);
  },
  print: (attrs) => `einsum "${attrs.spec}"`,
  linearIn: (node) => node.inputs.map((_, i) => i),
});

// lettersAmong's marks (ASCII letters; other text takes the general path)
const amongMarks = new Int32Array(128);
let amongStamp = 0;

/**
 * The distinct letters of `text` that occur in one of `allowed`, in order of first appearance
 * (the letters an operand shares with the rest of a net, an intermediate's kept letters).
 */
export function lettersAmong(text: string, allowed: string[]): string {
  if (!isAsciiText(text) || allowed.some((t) => !isAsciiText(t))) {
    const pool = new Set(allowed.join(''));
    return [...new Set([...text].filter((c) => pool.has(c)))].join('');
  }
  if (amongStamp >= 0x7ffffffe) amongMarks.fill(0), (amongStamp = 0);
  const wanted = ++amongStamp;
  const taken = ++amongStamp;
  for (const t of allowed) for (let k = 0; k < t.length; k++) amongMarks[t.charCodeAt(k)] = wanted;
  let out = '';
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (amongMarks[c] !== wanted) continue;
    amongMarks[c] = taken;
    out += text[k];
  }
  return out;
}

const isAsciiText = (t: string) => {
  for (let k = 0; k < t.length; k++) if (t.charCodeAt(k) >= 128) return false;
  return true;
};

export { numelOf };
