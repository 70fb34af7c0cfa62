// Comparisons of tensors as masks (1.0 where the comparison holds, 0.0 elsewhere), written over
// Ops so that the reference interpreter and the lowering share them. Every mask is built from the
// Heaviside step H(x) = [x > 0]: a > b is H(a − b), a == b is 1 − H(|a − b|). A mask is piecewise
// constant, so no gradient flows through it; gradients flow through the values it selects.
import type { Ops, TT } from './ops.ts';

const H = (ops: Ops, x: TT) => ops.unary('heaviside', x);
const diff = (ops: Ops, a: TT, b: TT) => ops.binary('-', a, b);
const not = (ops: Ops, m: TT) => ops.binary('-', ops.fill(ops.shape(m), 1), m);

export const COMPARE_MASK: Record<string, (ops: Ops, a: TT, b: TT) => TT> = {
  '>': (ops, a, b) => H(ops, diff(ops, a, b)),
  '<': (ops, a, b) => H(ops, diff(ops, b, a)),
  '>=': (ops, a, b) => not(ops, H(ops, diff(ops, b, a))),
  '<=': (ops, a, b) => not(ops, H(ops, diff(ops, a, b))),
  '!=': (ops, a, b) => H(ops, ops.unary('abs', diff(ops, a, b))),
  '==': (ops, a, b) => not(ops, H(ops, ops.unary('abs', diff(ops, a, b)))),
};

/**
 * where(m, a, b) = m·a + (1 − m)·b on equal shapes: a where the mask is 1, b where it is 0. Both
 * branches are computed, so a NaN or infinity in the branch not taken still shows (0·∞ = NaN).
 */
export const select = (ops: Ops, m: TT, a: TT, b: TT): TT => ops.binary('+', ops.binary('*', m, a), ops.binary('*', not(ops, m), b));
