// Random numbers a program draws in its forward pass (dropout, uniform[...]()), afresh each
// training step: the value of draw `name` at step `step` is fixed by (seed, step, name), so the
// reference interpreter, the compiled program and a resumed run all see the same numbers.
import { tensor, type Tensor } from '../tensor/tensor.ts';
import { rng } from './rng.ts';

/** Uniform [0, 1) numbers for the draw `name` at `step`. */
export function stepRandom(seed: number, step: number, name: string, shape: number[]): Tensor {
  const r = rng(seed).fork(`step:${step}`).fork(name);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = r.next();
  return tensor(shape, data);
}

/** Leaf names of forward-pass random draws (fed by the runtime each step). */
export const isStepRandomLeaf = (name: string) => name.startsWith('rand:');
