// Initial values drawn when they are first needed, and straight into the array that needs them.
//
// A drawn tensor is a Tensor whose float64 `data` is made on first read. A backend that holds float32
// (every one) asks for the values with writeFloat32 instead: they are then drawn once, straight into
// its buffer, each the same double rounded once on the store — the numbers `new Float32Array(data)`
// would give, without the float64 copy (the whole model's frozen weights are ~85 MB of float64) or
// the float32 temporary. Drawing twice gives the same numbers: each draw starts its stream afresh.
// What a tensor draws is a record (Draw) and where its stream starts (an Rng state): plain data, so
// another thread can draw it too (draw-threads.ts).
import { checkShape, numel, type Tensor } from '../tensor/tensor.ts';
import type { FloatArray, Rng } from './rng.ts';

/** What fills a tensor, value after value in row-major order. */
export type Draw = { kind: 'uniform'; low: number; high: number } | { kind: 'normal'; mean: number; std: number } | { kind: 'constant'; value: number };

/** Every value of `out` written (whatever it held): from `r` for the random kinds. */
export function drawInto(d: Draw, out: FloatArray, r: Rng | undefined): void {
  if (d.kind === 'constant') out.fill(d.value);
  else if (!r) throw new Error(`drawInto: a ${d.kind} draw needs a stream`);
  else if (d.kind === 'uniform') r.uniformInto(out, d.low, d.high);
  else r.normalInto(out, d.mean, d.std);
}

/** A tensor's values as a draw and the start of its stream (a fresh generator at every call; none for constants). */
export interface Recipe {
  draw: Draw;
  stream?: () => Rng;
}

/** Writes every one of a tensor's values into `out` (whatever it held), the same numbers at every call. */
type Fill = (out: FloatArray) => void;

/**
 * Draws n float64 normals of `stream` on more threads than this one, the numbers drawInto writes, or
 * declines (undefined: no worker ready, too small). Node's CPU backend installs one (normal-threads.ts):
 * the base weight an SVD initialiser reads (PiSSA's W, 768×768) is drawn in float64 while lowering.
 */
export type Float64Normals = (mean: number, std: number, n: number, stream: Rng) => Float64Array | undefined;
let float64Normals: Float64Normals | undefined;

/** Install (or remove, undefined) the drawer of big float64 normal tensors. */
export function setFloat64Normals(draw: Float64Normals | undefined): void {
  float64Normals = draw;
}

/** A recipe's values as a new float64 array. */
function drawFloat64(recipe: Recipe, n: number): Float64Array {
  const d = recipe.draw;
  const shared = d.kind === 'normal' && recipe.stream && float64Normals?.(d.mean, d.std, n, recipe.stream());
  if (shared) return shared;
  const values = new Float64Array(n);
  drawInto(d, values, recipe.stream?.());
  return values;
}

class DrawnTensor implements Tensor {
  readonly shape: number[];
  /** the float64 values, drawn on first read (an own enumerable property: a spread copy reads it) */
  declare data: Float64Array;

  constructor(shape: readonly number[], readonly recipe: Recipe) {
    checkShape(shape);
    const fill: Fill = (out) => drawInto(recipe.draw, out, recipe.stream?.());
    this.shape = [...shape];
    let values: Float64Array | undefined;
    Object.defineProperty(this, 'data', {
      enumerable: true,
      get: () => {
        return (values ??= drawFloat64(recipe, numel(this.shape)));
      },
      set: (d: Float64Array) => (values = d),
    });
    this.writeFloat32 = (out) => (values ? out.set(values) : fill(out));
    this.hasData = () => values !== undefined;
  }

  readonly hasData: () => boolean;

  /** The values rounded to float32 into `out` (read from `data` once that exists, else drawn into `out`). */
  readonly writeFloat32: (out: Float32Array) => void;
}

/** A tensor whose values are drawn when they are first needed. */
export function drawnTensor(shape: readonly number[], recipe: Recipe): Tensor {
  return new DrawnTensor(shape, recipe);
}

/** The recipe of a tensor whose values have not been drawn as float64 yet (else undefined: they exist). */
export function pendingRecipe(t: Tensor): Recipe | undefined {
  return t instanceof DrawnTensor && !t.hasData() ? t.recipe : undefined;
}

/** Whether a tensor's values are zeros not made yet (+0: a new array holds them already). */
export function pendingZeros(t: Tensor): boolean {
  const d = pendingRecipe(t)?.draw;
  return d?.kind === 'constant' && Object.is(d.value, 0);
}

/**
 * A tensor's values rounded to float32 into `out` (its length): drawn straight into it where they
 * have not been drawn yet, else converted in one pass (no temporary).
 */
export function writeFloat32(t: Tensor, out: Float32Array): void {
  if (out.length !== numel(t.shape)) throw new Error(`writeFloat32: [${t.shape}] has ${numel(t.shape)} values, the array ${out.length}`);
  if (t instanceof DrawnTensor) t.writeFloat32(out);
  else out.set(t.data);
}

/** A tensor's values as a new float32 array (for backends without host access). */
export function toFloat32(t: Tensor): Float32Array {
  const out = new Float32Array(numel(t.shape));
  writeFloat32(t, out);
  return out;
}

/**
 * Tensors of Normal(0, 1) values from one stream, one after another (each starts where the previous
 * one ends, as if drawn in order), each drawn when first needed. A later tensor drawn first skips
 * over the earlier ones' numbers (drawing them into a scratch array).
 */
export function normalSequence(r: Rng): { next(shape: readonly number[]): Tensor } {
  const first = r.clone();
  let start = () => first.clone();
  return {
    next(shape) {
      const from = start;
      const n = numel(shape);
      let after: Rng | undefined;
      start = () => (after ??= skipNormals(from(), n)).clone();
      return drawnTensor(shape, { draw: { kind: 'normal', mean: 0, std: 1 }, stream: from });
    },
  };
}

function skipNormals(r: Rng, n: number): Rng {
  const scratch = new Float64Array(Math.min(n, 8192));
  for (let k = 0; k < n; k += scratch.length) r.normalInto(scratch.subarray(0, Math.min(scratch.length, n - k)));
  return r;
}

/** Zeros, made when first needed: a backend's fresh buffer is written with zeros, no float64 array is made. */
export const zerosWhenNeeded = (shape: readonly number[]): Tensor => drawnTensor(shape, { draw: { kind: 'constant', value: 0 } });
