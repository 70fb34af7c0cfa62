// Per-step scalars: the numbers a training step is fed besides its batch (AdamW's bias-corrected
// learning rate lr_t, eps_t and decay; SGD's lr), as formulas over the step t and the schedule's
// factor on the learning rate. A formula is data, so that one definition gives both evaluations:
// evalStepScalar here (float64, in order), and a compiled WebAssembly function on the CPU backend
// (runtime/backends/wasm-step-scalars.ts), whose float64 operations are the same IEEE operations in
// the same order, with pow being Math.pow itself — the same numbers without a boxed double a step.

/** t: the step (1-based); scale: the schedule's factor; a tuple: an operation on float64 values. */
export type StepScalar =
  | number
  | 't'
  | 'scale'
  | readonly ['+' | '-' | '*' | '/' | 'pow', StepScalar, StepScalar]
  | readonly ['sqrt', StepScalar];

/** The operations, as evaluated on the host (JS float64, which wasm's f64 ops and Math.pow match bit for bit). */
export const STEP_SCALAR_OPS: Record<'+' | '-' | '*' | '/' | 'pow', (a: number, b: number) => number> & { sqrt: (a: number) => number } = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  pow: Math.pow, // itself, not a wrapper: the wasm step imports it (V8 calls Math.pow from wasm directly)
  sqrt: (a) => Math.sqrt(a),
};

export function evalStepScalar(e: StepScalar, t: number, scale: number): number {
  if (typeof e === 'number') return e;
  if (e === 't') return t;
  if (e === 'scale') return scale;
  if (e[0] === 'sqrt') return STEP_SCALAR_OPS.sqrt(evalStepScalar(e[1], t, scale));
  return STEP_SCALAR_OPS[e[0]](evalStepScalar(e[1], t, scale), evalStepScalar(e[2], t, scale));
}
