// The step's scalars (compiler/step-scalars.ts) compiled to one WebAssembly function
// (t, scale) → float32 values in its memory, in order. A host step runs this once a step; the same
// arithmetic in JS would run in V8's interpreter (once a step is too rarely to be optimised) and box
// every double it computes. f64 add/sub/mul/div/sqrt are IEEE operations and pow is Math.pow itself
// (an import V8 calls directly), so the values are evalStepScalar's, rounded to float32 as a store
// into a Float32Array rounds them.
import { STEP_SCALAR_OPS, type StepScalar } from '../../compiler/step-scalars.ts';
import { Code, F64, ModuleBuilder } from './wasm-emit.ts';

export interface StepScalarsFn {
  /** write every formula's value at step t for the schedule's factor scale into out */
  run(t: number, scale: number): void;
  /** the values (float32), in the formulas' order */
  out: Float32Array;
}

const BINARY: Record<'+' | '-' | '*' | '/', (c: Code) => Code> = {
  '+': (c) => c.f64Add(),
  '-': (c) => c.f64Sub(),
  '*': (c) => c.f64Mul(),
  '/': (c) => c.f64Div(),
};

export function compileStepScalars(formulas: readonly StepScalar[]): StepScalarsFn {
  const POW = 0; // the imported function's index
  const pages = Math.max(1, Math.ceil((4 * formulas.length) / 65536));
  const mb = new ModuleBuilder({ module: 'env', name: 'mem', minPages: pages, maxPages: pages }, [{ module: 'env', name: 'pow', params: [F64, F64], results: [F64] }]);
  const code = new Code([F64, F64]);
  const [t, scale] = [code.param(0), code.param(1)];
  const emit = (e: StepScalar): void => {
    if (typeof e === 'number') code.f64(e);
    else if (e === 't') code.get(t);
    else if (e === 'scale') code.get(scale);
    else if (e[0] === 'sqrt') {
      emit(e[1]);
      code.f64Sqrt();
    } else {
      emit(e[1]);
      emit(e[2]);
      if (e[0] === 'pow') code.call(POW);
      else BINARY[e[0]](code);
    }
  };
  formulas.forEach((f, i) => {
    code.i32(4 * i);
    emit(f);
    code.f32DemoteF64().f32Store();
  });
  mb.add(code, [], 'run');
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  // STEP_SCALAR_OPS.pow is Math.pow itself, which V8 calls from wasm without boxing (a JS wrapper would box)
  const inst = new WebAssembly.Instance(new WebAssembly.Module(mb.bytes()), { env: { mem: memory, pow: STEP_SCALAR_OPS.pow } });
  return { run: inst.exports.run as (t: number, scale: number) => void, out: new Float32Array(memory.buffer, 0, formulas.length) };
}
