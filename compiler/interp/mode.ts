// How a program runs: for training or evaluation, at which optimiser step, with which seed for
// its forward-pass random draws. Programs see `training` (static) and `step` (a run-time scalar).
import { stepRandom } from '../../runtime/init/step-random.ts';
import * as T from '../../runtime/tensor/index.ts';
import type { Ops, TT } from './ops.ts';

export interface RunMode {
  training: boolean;
  /** Optimiser steps taken before this one (0 for the first step). */
  step: number;
  seed: number;
}

export const EVAL_MODE: RunMode = { training: false, step: 0, seed: 0 };

/** Per evaluation: numbers the random draws in order (rand:0, rand:1, …) and keeps one `step` leaf. */
export class ModeState {
  private draws = 0;
  private stepValue?: T.Tensor;
  constructor(readonly mode: RunMode = EVAL_MODE) {}

  stepLeaf(ops: Ops): TT {
    this.stepValue ??= T.scalar(this.mode.step);
    return ops.leaf('input', 'step', this.stepValue);
  }

  /** A fresh uniform [0, 1) tensor: an input leaf whose value the runtime redraws every step. */
  uniform(ops: Ops, shape: number[]): TT {
    const name = `rand:${this.draws++}`;
    return ops.leaf('input', name, stepRandom(this.mode.seed, this.mode.step, name, shape));
  }
}
