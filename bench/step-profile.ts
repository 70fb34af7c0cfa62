// Where a CPU training step spends its time, kernel by kernel: each kernel of the compiled step run
// alone, its least time over the repetitions (the least is the figure least disturbed by other
// load), grouped by strategy (gemm / loops) and by the source line it came from.
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE npx tsx bench/step-profile.ts [paper-lily|paper-lora|vit-lily|vit-lora] [--reps N] [--top N]
// (those two variables, which some machines set, force an older and much slower OpenBLAS kernel)
import { readFileSync } from 'node:fs';
import { checkSource } from '../compiler/frontend.ts';
import { cpuBackend, type CpuExecutable } from '../runtime/backends/cpu-exec.ts';
import { compileTraining, type Trainer } from '../runtime/train.ts';
import { ourModelStep } from './model.ts';

const argv = process.argv.slice(2);
const opt = (flag: string, dflt: number) => (argv.includes(flag) ? Number(argv[argv.indexOf(flag) + 1]) : dflt);
const what = argv.find((a) => !a.startsWith('--') && Number.isNaN(Number(a))) ?? 'paper-lily';
const reps = opt('--reps', 10);
const top = opt('--top', 25);
const SHAPE = { N: 1024, In: 768, Out: 768, r: 16, E: 4 };

async function paper(adapter: 'Lily' | 'LoRA'): Promise<{ trainer: Trainer; batch: { x: Float32Array; t: Float32Array } }> {
  const file = adapter === 'Lily' ? 'lily.lily' : 'lora.lily';
  const checked = checkSource(readFileSync(new URL(`../stdlib/adapters/${file}`, import.meta.url), 'utf8'), file);
  const dims = { ...SHAPE, ...(adapter === 'Lily' ? { scale: 1 } : { alpha: 16 }) };
  const trainer = await compileTraining(checked, adapter, { dims, backend: cpuBackend(), params: 'random', seed: 2 });
  return { trainer, batch: { x: new Float32Array(SHAPE.N * SHAPE.In).fill(0.1), t: new Float32Array(SHAPE.N * SHAPE.Out).fill(0.2) } };
}

const kinds: Record<string, () => Promise<{ trainer: Trainer; batch: { x: Float32Array; t: Float32Array } }>> = {
  'paper-lily': () => paper('Lily'),
  'paper-lora': () => paper('LoRA'),
  'vit-lily': () => ourModelStep('Lily'),
  'vit-lora': () => ourModelStep('LoRA'),
};
if (!kinds[what]) throw new Error(`unknown step ${what}: one of ${Object.keys(kinds).join(', ')}`);
const { trainer, batch } = await kinds[what]!();
if (!trainer.stepSync) throw new Error('this step has no synchronous host path');
const ex = trainer.exec as CpuExecutable;
for (let i = 0; i < 5; i++) trainer.stepSync(batch); // V8 optimises the kernels
let step = Infinity;
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  trainer.stepSync(batch);
  step = Math.min(step, performance.now() - t0);
}
const args = { lr: 1e-3, t: 1 };
const least = new Float64Array(ex.kernels.length).fill(Infinity);
for (let r = 0; r < reps; r++)
  ex.kernels.forEach((k, i) => {
    const t0 = performance.now();
    k.run(ex.B, args, ex.S);
    least[i] = Math.min(least[i]!, performance.now() - t0);
  });
const rows = ex.kernels.map((k, i) => ({
  name: k.kernel.name,
  strategy: k.strategy,
  kind: k.kernel.kind,
  ms: least[i]!,
  shape: k.kernel.loops.map((l) => l.extent).join('×'),
  gemm: k.gemm ? `${k.gemm.M}×${k.gemm.K}×${k.gemm.N}${k.gemm.L.trans ? 'ᵀA' : ''}${k.gemm.R.trans ? 'ᵀB' : ''}${k.gemm.L.offsets.length > 1 ? ` ×${k.gemm.L.offsets.length}` : ''}` : '',
}));
const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
const group = (key: (r: (typeof rows)[number]) => string) => {
  const m = new Map<string, number>();
  for (const r of rows) m.set(key(r), (m.get(key(r)) ?? 0) + r.ms);
  return [...m].sort((a, b) => b[1] - a[1]);
};
console.log(`${what}: least step ${step.toFixed(1)} ms; kernels (each alone, least of ${reps}) sum to ${sum(rows.map((r) => r.ms)).toFixed(1)} ms over ${rows.length} kernels`);
console.log('\nby strategy and kind:');
for (const [k, v] of group((r) => `${r.strategy} ${r.kind}`)) console.log(`${v.toFixed(1).padStart(9)} ms  ${k}`);
console.log('\nby source line:');
for (const [k, v] of group((r) => /_L(\d+)$/.exec(r.name)?.[1] ?? '-').slice(0, 12)) console.log(`${v.toFixed(1).padStart(9)} ms  line ${k}`);
console.log(`\nthe ${top} slowest kernels:`);
for (const r of [...rows].sort((a, b) => b.ms - a.ms).slice(0, top))
  console.log(`${r.ms.toFixed(2).padStart(9)} ms  ${r.strategy.padEnd(11)} ${r.kind.padEnd(11)} ${r.shape.padEnd(14)} ${r.gemm.padEnd(18)} ${r.name}`);
trainer.dispose();
