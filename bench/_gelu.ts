import { ourModelStep } from './model.ts';
import type { CpuExecutable } from '../runtime/backends/cpu-exec.ts';
const a = await ourModelStep('Lily', { threads: 1 });
const b = await ourModelStep('Lily', { threads: 2 });
const A = a.trainer.exec as CpuExecutable, B = b.trainer.exec as CpuExecutable;
const i = A.kernels.findIndex((k) => k.kernel.name.startsWith('k76_map'));
const args = { lr: 1e-3, t: 1 };
let ta = Infinity, tb = Infinity; const la: number[] = [], lb: number[] = [];
for (let r = 0; r < 40; r++) {
  let t0 = performance.now(); A.kernels[i]!.run(A.B, args, A.S); const x = performance.now() - t0; ta = Math.min(ta, x); la.push(x);
  t0 = performance.now(); B.kernels[i]!.run(B.B, args, B.S); const y = performance.now() - t0; tb = Math.min(tb, y); lb.push(y);
}
const med = (v: number[]) => v.sort((p, q) => p - q)[v.length >> 1]!.toFixed(2);
console.log(A.kernels[i]!.kernel.name, 'one', ta.toFixed(2), 'med', med(la), 'two', tb.toFixed(2), 'med', med(lb), 'worker chunks', B.loopsWorkerChunks, 'splits', B.loopsSplits);
a.trainer.dispose(); b.trainer.dispose();
