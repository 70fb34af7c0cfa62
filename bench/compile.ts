// Compile time: every stdlib adapter (check + compile to the training step + kernel plan + prepare
// on the CPU backend) at the paper's shape, and the whole-model program (bench/model/vit-small.lily).
//   npx tsx bench/compile.ts [--json] [--reps N]
// The index benchmark (`npm run bench`) runs this file in a process of its own (compileTimesInChild),
// so that its figures do not depend on what the benchmark ran before them: in the benchmark's own
// process they moved both ways (the whole model 369 ms after tfjs, PyTorch and our steps had run;
// 164 ms after our whole-model steps alone, the compiler's code already optimised; 190–266 ms here).
// Each figure is the median of N fresh compiles in this process after a first one (dropped: it also
// warms the compiler's own code), as wall time and as the process's CPU time (all its threads: the
// compile's workers included).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { clearKernelFactories } from '../compiler/codegen/cpu.ts';
import { checkSource } from '../compiler/frontend.ts';
import { cpuBackend } from '../runtime/backends/cpu-exec.ts';
import { compileTraining } from '../runtime/train.ts';
import { formatTimings, Timings } from '../compiler/timings.ts';
import { benchFlags, median } from './common.ts';
import { MODEL_DIMS } from './model.ts';

const PAPER = { N: 1024, In: 768, Out: 768, r: 16, E: 4 };
/** extra sizes some adapters need (their own Dim parameters) */
const EXTRA = { n: 2, f: 2, rh: 16, P: 64 };

/** The process's CPU time (user + system, every thread) in ms: on a shared machine it moves far less than wall time. */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function timeCompile(file: string, unit: string, dims: Record<string, number>, reps: number): Promise<{ wall: number; cpu: number; phases: Timings }> {
  const src = readFileSync(file, 'utf8');
  const wall: number[] = [];
  const cpu: number[] = [];
  const phases: Timings[] = [];
  for (let i = 0; i <= reps; i++) {
    clearKernelFactories(); // generated kernels are compiled again, as in a fresh process
    const timings = new Timings();
    const t0 = performance.now();
    const c0 = cpuMs();
    const checked = timings.time('check', () => checkSource(src, file));
    const tr = await compileTraining(checked, unit, { dims, backend: cpuBackend(), timings });
    const dt = performance.now() - t0;
    const dc = cpuMs() - c0;
    tr.dispose();
    if (i > 0) wall.push(dt), cpu.push(dc), phases.push(timings);
  }
  // each phase's median over the repetitions
  const med = new Timings();
  for (const phase of phases[0].ms.keys()) med.add(phase, median(phases.map((t) => t.ms.get(phase) ?? 0)));
  return { wall: median(wall), cpu: median(cpu), phases: med };
}

export interface CompileTimes {
  /** wall time (ms), median of the repetitions, by adapter */
  adapters: Record<string, number>;
  adapters_max_ms: number;
  model_ms: number;
  /** the same as CPU time (user + system of every thread of the process, ms) */
  adapters_cpu_ms: Record<string, number>;
  model_cpu_ms: number;
  /** wall ms by compile phase (lily compile --timings), each the median of the repetitions: the whole model and the slowest adapter */
  model_phases_ms: Record<string, number>;
  slowest_adapter_phases_ms: Record<string, number>;
  /** the 1-minute load average when the measurement ended */
  load_average: number;
}

export async function compileTimes(reps = 3, log: (s: string) => void = () => {}): Promise<CompileTimes> {
  const dir = new URL('../stdlib/adapters/', import.meta.url);
  const adapters: Record<string, number> = {};
  const adapters_cpu_ms: Record<string, number> = {};
  const adapterPhases: Record<string, Timings> = {};
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.lily')).sort()) {
    const file = new URL(f, dir).pathname;
    const checked = checkSource(readFileSync(file, 'utf8'), file);
    for (const [name, u] of checked.units) {
      if (u.decl.kind !== 'adapter') continue;
      try {
        const t = await timeCompile(file, name, { ...PAPER, ...EXTRA }, reps);
        adapters[name] = t.wall;
        adapters_cpu_ms[name] = t.cpu;
        adapterPhases[name] = t.phases;
      } catch (e) {
        log(`   ${name}: not compiled at the paper's shape (${(e as Error).message.split('\n')[0]})`);
      }
    }
  }
  const model = new URL('./model/vit-small.lily', import.meta.url).pathname;
  const m = await timeCompile(model, 'ViTLily', MODEL_DIMS, reps);
  const { loadavg } = await import('node:os');
  const slowest = Object.keys(adapters).reduce((a, b) => (adapters[b] > adapters[a] ? b : a));
  log(`   whole model, by phase (median ms):\n${formatTimings(m.phases)}`);
  log(`   slowest adapter (${slowest}), by phase (median ms):\n${formatTimings(adapterPhases[slowest])}`);
  return {
    adapters,
    adapters_max_ms: Math.max(...Object.values(adapters)),
    model_ms: m.wall,
    adapters_cpu_ms,
    model_cpu_ms: m.cpu,
    model_phases_ms: Object.fromEntries(m.phases.ms),
    slowest_adapter_phases_ms: Object.fromEntries(adapterPhases[slowest].ms),
    load_average: loadavg()[0],
  };
}

/**
 * compileTimes in a fresh process of its own (this file run with --json), as `npm run bench` measures
 * it: its figures do not depend on what the calling process ran before.
 */
export function compileTimesInChild(reps = 3): CompileTimes {
  const file = new URL(import.meta.url).pathname;
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), file, '--json', '--reps', String(reps)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`bench/compile.ts exited with ${r.status ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return JSON.parse(r.stdout) as CompileTimes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { json, log } = benchFlags();
  const at = process.argv.indexOf('--reps');
  const reps = at > 0 ? Number(process.argv[at + 1]) : 3;
  if (!(Number.isInteger(reps) && reps >= 1)) {
    console.error(`bench/compile.ts: --reps needs a whole number ≥ 1, got ${process.argv[at + 1]}`);
    process.exit(1);
  }
  const r = await compileTimes(reps, log);
  if (json) console.log(JSON.stringify(r, null, 2));
  else {
    log(`${'adapter'.padEnd(14)} wall ms  cpu ms`);
    for (const [k, v] of Object.entries(r.adapters)) log(`${k.padEnd(14)} ${v.toFixed(0).padStart(7)} ${r.adapters_cpu_ms[k].toFixed(0).padStart(7)}`);
    log(`slowest adapter ${r.adapters_max_ms.toFixed(0)} ms; whole model (ViT-small-like, Lily on q, v) ${r.model_ms.toFixed(0)} ms wall, ${r.model_cpu_ms.toFixed(0)} ms CPU; load average ${r.load_average.toFixed(1)}`);
  }
  process.exit(0);
}
