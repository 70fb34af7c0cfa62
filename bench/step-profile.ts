// Where a CPU training step spends its time, kernel by kernel: each kernel of the compiled step run
// alone, its least time over the repetitions (the least is the figure least disturbed by other
// load), grouped by strategy (gemm / loops) and by the source line it came from.
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE npx tsx bench/step-profile.ts [paper-lily|paper-lora|vit-lily|vit-lora] [--reps N] [--top N] [--loops-ab]
// (those two variables, which some machines set, force an older and much slower OpenBLAS kernel)
// --loops-ab: the step prepared twice, loops kernels as JavaScript (LILY_LOOPS=js) and as WebAssembly
// (the default), timed side by side in one run: whole steps in alternation, then every kernel of both.
// --threads-ab (vit-lily / vit-lora): the step prepared four times, loops kernels on one thread, on two
// above the default size threshold, on two for every kernel, on two with a worker that polls for the
// next job a while (beside OpenBLAS's threads) instead of sleeping at once; whole steps in alternation, then every
// wasm kernel alone on one and two threads, by size (Kernel.bytes): where a split pays.
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
if (argv.includes('--threads-ab')) {
  await threadsAB();
  process.exit(0);
}
if (argv.includes('--loops-ab')) {
  await loopsAB();
  process.exit(0);
}
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
  strategy: k.wasm ? 'loops/wasm' : k.strategy,
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

/** --loops-ab: JS vs WebAssembly loops kernels, side by side (see the header) */
async function loopsAB(): Promise<void> {
  const build = async (engine: 'js' | 'wasm') => {
    process.env.LILY_LOOPS = engine;
    const s = await kinds[what]!();
    if (!s.trainer.stepSync) throw new Error('this step has no synchronous host path');
    return { ...s, ex: s.trainer.exec as CpuExecutable };
  };
  const js = await build('js'), wasm = await build('wasm');
  delete process.env.LILY_LOOPS;
  const time = (s: typeof js) => {
    const t0 = performance.now();
    s.trainer.stepSync!(s.batch);
    return performance.now() - t0;
  };
  for (let i = 0; i < 5; i++) time(js), time(wasm); // V8 optimises the JS kernels, tiers the wasm up
  let tj = Infinity, tw = Infinity;
  for (let r = 0; r < reps; r++) (tj = Math.min(tj, time(js))), (tw = Math.min(tw, time(wasm)));
  const args = { lr: 1e-3, t: 1 };
  const n = js.ex.kernels.length;
  const lj = new Float64Array(n).fill(Infinity), lw = new Float64Array(n).fill(Infinity);
  for (let r = 0; r < reps; r++)
    for (let i = 0; i < n; i++) {
      let t0 = performance.now();
      js.ex.kernels[i]!.run(js.ex.B, args, js.ex.S);
      lj[i] = Math.min(lj[i]!, performance.now() - t0);
      t0 = performance.now();
      wasm.ex.kernels[i]!.run(wasm.ex.B, args, wasm.ex.S);
      lw[i] = Math.min(lw[i]!, performance.now() - t0);
    }
  console.log(`${what}: least step (of ${reps}, in alternation) loops as JS ${tj.toFixed(1)} ms, as wasm ${tw.toFixed(1)} ms (${wasm.ex.wasmKernels} of ${n} kernels wasm; module rendered + compiled in ${wasm.ex.wasmCompileMs.toFixed(1)} ms)`);
  console.log('\nkernels alone (least of reps), by strategy and kind:      JS ms    wasm ms');
  const g = new Map<string, [number, number, number]>();
  wasm.ex.kernels.forEach((k, i) => {
    const key = `${k.wasm ? 'loops/wasm' : k.strategy} ${k.kernel.kind}`;
    const a = g.get(key) ?? [0, 0, 0];
    g.set(key, [a[0] + lj[i]!, a[1] + lw[i]!, a[2] + 1]);
  });
  for (const [k, [a, b, c]] of [...g].sort((x, y) => y[1][0] - x[1][0])) console.log(`  ${`${k} (${c})`.padEnd(40)} ${a.toFixed(1).padStart(9)} ${b.toFixed(1).padStart(9)}`);
  console.log(`  ${'all'.padEnd(40)} ${lj.reduce((p, x) => p + x, 0).toFixed(1).padStart(9)} ${lw.reduce((p, x) => p + x, 0).toFixed(1).padStart(9)}`);
  console.log(`\nthe ${top} slowest wasm kernels:            JS ms    wasm ms   wasm GB/s`);
  const idx = [...wasm.ex.kernels.keys()].filter((i) => wasm.ex.kernels[i]!.wasm).sort((a, b) => lw[b]! - lw[a]!).slice(0, top);
  for (const i of idx) {
    const k = wasm.ex.kernels[i]!.kernel;
    console.log(`  ${`${k.loops.map((l) => l.extent).join('×')} ${k.name}`.padEnd(36)} ${lj[i]!.toFixed(2).padStart(7)} ${lw[i]!.toFixed(2).padStart(9)} ${(k.bytes / 1e6 / lw[i]!).toFixed(1).padStart(9)}`);
  }
  js.trainer.dispose();
  wasm.trainer.dispose();
}

/** --threads-ab: the loops kernels on one thread vs two, side by side (see the header) */
async function threadsAB(): Promise<void> {
  if (!what.startsWith('vit-')) throw new Error('--threads-ab: vit-lily or vit-lora');
  const adapter = what === 'vit-lily' ? 'Lily' : 'LoRA';
  const variants = [
    { name: 'one thread', cpu: { threads: 1 } },
    { name: 'two, default threshold', cpu: { threads: 2 } },
    { name: 'two, every kernel', cpu: { threads: 2, threadMinBytes: 0 } },
    { name: 'two, worker polls 20000×', cpu: { threads: 2, threadSpin: { worker: 20000 } } },
  ];
  const built: ({ name: string; ex: CpuExecutable } & Awaited<ReturnType<typeof ourModelStep>>)[] = [];
  for (const v of variants) {
    const s = await ourModelStep(adapter, v.cpu);
    built.push({ name: v.name, ...s, ex: s.trainer.exec as CpuExecutable });
  }
  const time = (s: (typeof built)[number]) => {
    const t0 = performance.now();
    s.trainer.stepSync!(s.batch);
    return performance.now() - t0;
  };
  for (let i = 0; i < 4; i++) for (const s of built) time(s);
  const least = built.map(() => Infinity);
  for (let r = 0; r < reps; r++) built.forEach((s, i) => (least[i] = Math.min(least[i]!, time(s))));
  console.log(`${what}: least step of ${reps}, in alternation:`);
  built.forEach((s, i) => console.log(`  ${s.name.padEnd(24)} ${least[i]!.toFixed(1).padStart(8)} ms  (${s.ex.loopsSplits} kernel runs split so far, threads ${s.ex.loopsThreads})`));
  // every kernel alone: one thread (built[0]) vs two on every kernel (built[2])
  const args = { lr: 1e-3, t: 1 };
  const one = built[0]!.ex, two = built[2]!.ex;
  const n = one.kernels.length;
  const l1 = new Float64Array(n).fill(Infinity), l2 = new Float64Array(n).fill(Infinity);
  for (let r = 0; r < reps; r++)
    for (let i = 0; i < n; i++) {
      if (!one.kernels[i]!.wasm && !one.kernels[i]!.gemm) continue;
      let t0 = performance.now();
      one.kernels[i]!.run(one.B, args, one.S);
      l1[i] = Math.min(l1[i]!, performance.now() - t0);
      t0 = performance.now();
      two.kernels[i]!.run(two.B, args, two.S);
      l2[i] = Math.min(l2[i]!, performance.now() - t0);
    }
  console.log('\nkernels alone (least of reps), by Kernel.bytes:   count   one ms   two ms   ratio');
  const buckets = [0, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24, Infinity];
  for (const kind of ['loops/wasm', 'gemm (wasm passes)']) {
    for (let b = 0; b + 1 < buckets.length; b++) {
      let c = 0, a1 = 0, a2 = 0;
      for (let i = 0; i < n; i++) {
        const k = one.kernels[i]!;
        if ((kind === 'loops/wasm') !== !!k.wasm || (!k.wasm && !k.gemm)) continue;
        if (k.kernel.bytes < buckets[b]! || k.kernel.bytes >= buckets[b + 1]!) continue;
        c++, (a1 += l1[i]!), (a2 += l2[i]!);
      }
      if (c) console.log(`  ${`${kind} ${buckets[b]! >> 10}–${buckets[b + 1]! === Infinity ? '∞' : buckets[b + 1]! >> 10} KiB`.padEnd(44)} ${String(c).padStart(5)} ${a1.toFixed(2).padStart(8)} ${a2.toFixed(2).padStart(8)} ${(a2 / a1).toFixed(2).padStart(7)}`);
    }
  }
  for (const s of built) s.trainer.dispose();
}
