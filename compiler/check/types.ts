// The types the checker assigns. A tensor's type is its symbolic shape plus the index variables
// (bound by an expert comprehension `sum[e](...)`) it varies over; those behave as extra leading
// axes, like a vmap. Hyper-level values (hyper-parameters, literals, dims used as numbers) are
// known when the program is instantiated, so conditionals on them are static.
import { dimEq, showDim, showShape, type Dim } from './dims.ts';

export interface IndexVar {
  name: string;
  range?: Dim; // inferred from the first axis it indexes
  depth: number; // nesting order: canonical order of index axes at run time
}

export type Ty =
  | { kind: 'tensor'; shape: Dim[]; idx: IndexVar[] }
  | { kind: 'hyper'; base: 'Int' | 'Float' | 'Bool' };

export const tensorTy = (shape: Dim[], idx: IndexVar[] = []): Ty => ({ kind: 'tensor', shape, idx });
export const hyperTy = (base: 'Int' | 'Float' | 'Bool'): Ty => ({ kind: 'hyper', base });
export const scalarTy: Ty = tensorTy([]);

export function showTy(t: Ty): string {
  if (t.kind === 'hyper') return t.base;
  const idx = t.idx.length ? ` (for each ${t.idx.map((v) => v.name).join(', ')})` : '';
  return `${showShape(t.shape)}${idx}`;
}

export const isNumeric = (t: Ty) => t.kind === 'tensor' || t.base !== 'Bool';

/** View a numeric type as a tensor (hyper numbers are rank-0 tensors). */
export function asTensor(t: Ty): { shape: Dim[]; idx: IndexVar[] } {
  return t.kind === 'tensor' ? t : { shape: [], idx: [] };
}

/** Union of index variables, in canonical (nesting) order. */
export function idxUnion(a: IndexVar[], b: IndexVar[]): IndexVar[] {
  const all = [...a];
  for (const v of b) if (!all.includes(v)) all.push(v);
  return all.sort((x, y) => x.depth - y.depth);
}

/**
 * How two shapes combine elementwise. First NumPy's rule (align trailing axes, 1 stretches);
 * when that fails, align by dimension name: the smaller shape must embed, in order and uniquely,
 * into the larger one ([N] with [N, Out]). Returns, for each operand axis, its output axis.
 */
export interface Alignment {
  out: Dim[];
  mapL: number[];
  mapR: number[];
}

const isOne = (d: Dim) => d.size === 1 && d.get('') === 1;

export function alignShapes(a: Dim[], b: Dim[]): Alignment | undefined {
  const numpy = alignNumpy(a, b);
  if (numpy) return numpy;
  if (a.length === b.length) return undefined;
  const [small, large, smallIsLeft] = a.length < b.length ? [a, b, true] : [b, a, false];
  const embeddings = embed(small, large, 0, 0);
  if (embeddings.length !== 1) return undefined;
  const map = embeddings[0];
  const ident = large.map((_, i) => i);
  return { out: large, mapL: smallIsLeft ? map : ident, mapR: smallIsLeft ? ident : map };
}

function alignNumpy(a: Dim[], b: Dim[]): Alignment | undefined {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i];
    const db = b[b.length - n + i];
    if (da === undefined) out.push(db);
    else if (db === undefined) out.push(da);
    else if (dimEq(da, db)) out.push(da);
    else if (isOne(da)) out.push(db);
    else if (isOne(db)) out.push(da);
    else return undefined;
  }
  return { out, mapL: a.map((_, i) => n - a.length + i), mapR: b.map((_, i) => n - b.length + i) };
}

function embed(small: Dim[], large: Dim[], i: number, j: number): number[][] {
  if (i === small.length) return [[]];
  const found: number[][] = [];
  for (let k = j; k < large.length && found.length < 2; k++)
    if (dimEq(small[i], large[k])) for (const rest of embed(small, large, i + 1, k + 1)) found.push([k, ...rest]);
  return found;
}

export const shapesEqual = (a: Dim[], b: Dim[]) => a.length === b.length && a.every((d, i) => dimEq(d, b[i]));
export { showDim, showShape };
