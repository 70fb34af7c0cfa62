// Where a PiSSA-sized SVD's time goes (the `from svd_*` initialisers: PiSSA, MiLoRA, LoRA-XS):
// a seeded random 768×768 float64 weight, by phase — the Householder bidiagonalisation (its row
// pass is a WebAssembly SIMD kernel) on one thread and on two (the helper the CPU backend installs:
// bidiagonal-threads.ts), every singular value (implicit-shift QR on the bidiagonal), the 16 a slice
// reads (bisection), and the whole SVD a PiSSA / MiLoRA initialiser asks for (16 values, 16 principal
// / minor vector pairs: inverse iteration, then the reflectors) on two threads — as the minimum over
// repetitions of wall ms and of the process's CPU ms (every thread; it moves less on a shared machine).
//   npx tsx bench/svd.ts [--json] [--reps N] [--n 768] [--r 16]
import { bidiagonalize } from '../runtime/tensor/bidiagonal.ts';
import { installRowPassThreads } from '../runtime/tensor/bidiagonal-threads.ts';
import { bidiagonalValues } from '../runtime/tensor/bidiagonal-svd.ts';
import { svdColumns } from '../runtime/tensor/decompose.ts';
import { tensor } from '../runtime/tensor/tensor.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const [n, r, reps] = [opt('n', 768), opt('r', 16), opt('reps', 7)];

let seed = 7;
const data = Float64Array.from({ length: n * n }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const best = new Map<string, { wall: number; cpu: number }>();
const time = <T>(phase: string, f: () => T): T => {
  const [t0, c0] = [performance.now(), cpuMs()];
  const out = f();
  const [wall, cpu] = [performance.now() - t0, cpuMs() - c0];
  const b = best.get(phase);
  best.set(phase, { wall: Math.min(wall, b?.wall ?? Infinity), cpu: Math.min(cpu, b?.cpu ?? Infinity) });
  return out;
};

const threads = installRowPassThreads();
bidiagonalize(data, n, n); // starts the worker (it joins once booted)
await new Promise((resolve) => setTimeout(resolve, 200));
// the first round warms the JIT and the kernels' tier-up; it counts like the others (minimum)
for (let i = 0; i <= reps; i++) {
  time('bidiagonalisation, 1 thread', () => bidiagonalize(data, n, n, { threads: false }));
  const b = time('bidiagonalisation, 2 threads', () => bidiagonalize(data, n, n));
  time('every singular value (QR)', () => bidiagonalValues(b.d, b.e));
  time(`svd: S[:${r}], U[:, :${r}], V[:, :${r}] (PiSSA)`, () => {
    const c = svdColumns(tensor([n, n], data));
    c.values(0, r);
    c.U(0, r);
    c.V(0, r);
  });
  time(`svd: S[${n - r}:], U[:, ${n - r}:], V[:, ${n - r}:] (MiLoRA)`, () => {
    const c = svdColumns(tensor([n, n], data));
    c.values(n - r, n);
    c.U(n - r, n);
    c.V(n - r, n);
  });
}

const rows = [...best].map(([phase, t]) => ({ phase, wall_ms: +t.wall.toFixed(1), cpu_ms: +t.cpu.toFixed(1) }));
const worker_chunks = threads.workerChunks();
if (args.includes('--json')) console.log(JSON.stringify({ n, r, reps, rows, worker_chunks }));
else {
  console.log(`SVD of a ${n}×${n} float64 matrix, ${r} vector pairs: min over ${reps + 1} runs`);
  for (const row of rows) console.log(`${row.phase.padEnd(44)} ${String(row.wall_ms).padStart(7)} ms wall ${String(row.cpu_ms).padStart(7)} ms CPU`);
  console.log(`row-pass chunks run by the worker: ${worker_chunks}`);
}
