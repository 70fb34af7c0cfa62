// The fuzzer: mutated well-typed programs through every `lily` command, each in a child process
// with a timeout and a memory cap. Counts internal errors (exit 3), hangs and memory overruns, and
// writes every such run (program + command line + output) to the output folder to reproduce.
//   npm run fuzz -- [--programs 500] [--seed 1] [--jobs 2] [--timeout 30] [--memory 1536] [--out fuzz-out]
//   npm run fuzz -- --replay fuzz-out/report.json   (re-run an earlier report's failures)
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandsFor, loadSeeds, makeMutant, type Mutant } from './corpus.ts';
import { Rand } from './rng.ts';
import { runAll, type Outcome, type RunResult } from './supervisor.ts';

export interface FuzzOptions {
  programs: number;
  seed: number;
  jobs: number;
  timeoutMs: number;
  memoryCapMiB: number;
  outDir: string;
  log?: (line: string) => void;
}

export interface FuzzReport {
  programs: number;
  runs: number;
  counts: Record<Outcome, number>;
  byCommand: Record<string, Record<Outcome, number>>;
  failures: { mutant: number; seed: string; applied: string[]; file: string; result: RunResult }[];
  maxMs: number;
  peakMiB: number;
  /** The runs that took the most CPU time: how close the run came to the timeout. */
  slowest: { argv: string[]; cpuMs: number; ms: number; outcome: Outcome }[];
}

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const BAD: Outcome[] = ['internal-error', 'hang', 'memory', 'crash'];
const zero = (): Record<Outcome, number> => ({ ok: 0, 'user-error': 0, 'internal-error': 0, hang: 0, memory: 0, crash: 0 });

export async function fuzz(o: FuzzOptions): Promise<FuzzReport> {
  const r = new Rand(o.seed);
  const seeds = loadSeeds(ROOT);
  rmSync(o.outDir, { recursive: true, force: true });
  mkdirSync(join(o.outDir, 'programs'), { recursive: true });
  const mutants: Mutant[] = [];
  const commands: string[][] = [];
  const owner: number[] = [];
  for (let i = 0; i < o.programs; i++) {
    const m = makeMutant(i, seeds, r);
    const file = join(o.outDir, 'programs', `m${i}.lily`);
    writeFileSync(file, m.source);
    mutants.push(m);
    for (const c of commandsFor(file, m, r)) {
      commands.push(c);
      owner.push(i);
    }
  }
  const report: FuzzReport = { programs: o.programs, runs: commands.length, counts: zero(), byCommand: {}, failures: [], maxMs: 0, peakMiB: 0, slowest: [] };
  let done = 0;
  await runAll(commands, o.jobs, { timeoutMs: o.timeoutMs, memoryCapMiB: o.memoryCapMiB }, (res, i) => {
    report.counts[res.outcome]++;
    (report.byCommand[res.argv[0]] ??= zero())[res.outcome]++;
    report.maxMs = Math.max(report.maxMs, res.ms);
    report.peakMiB = Math.max(report.peakMiB, res.peakMiB);
    report.slowest = [...report.slowest, { argv: res.argv, cpuMs: res.cpuMs, ms: res.ms, outcome: res.outcome }].sort((a, b) => b.cpuMs - a.cpuMs).slice(0, 5);
    const m = mutants[owner[i]];
    if (BAD.includes(res.outcome)) {
      report.failures.push({ mutant: m.id, seed: m.seed, applied: m.applied, file: res.argv[1], result: res });
      o.log?.(`${res.outcome}: lily ${res.argv.join(' ')}  [${m.seed} + ${m.applied.join(', ')}]\n  ${res.err.split('\n').slice(0, 2).join('\n  ')}`);
    }
    if (++done % 100 === 0) o.log?.(`… ${done}/${commands.length} runs`);
  });
  writeFileSync(join(o.outDir, 'report.json'), JSON.stringify(report, null, 2));
  return report;
}

/** Re-run the failures of an earlier report (after a fix): their programs are still in its folder. */
export async function replay(reportFile: string, o: Pick<FuzzOptions, 'jobs' | 'timeoutMs' | 'memoryCapMiB'>): Promise<RunResult[]> {
  const rep = JSON.parse(readFileSync(reportFile, 'utf8')) as FuzzReport;
  return runAll(rep.failures.map((f) => f.result.argv), o.jobs, { timeoutMs: o.timeoutMs, memoryCapMiB: o.memoryCapMiB });
}

async function cli(argv: string[]) {
  const arg = (name: string, dflt: number) => {
    const i = argv.indexOf(`--${name}`);
    const v = i >= 0 ? Number(argv[i + 1]) : dflt;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
    return v;
  };
  const outIdx = argv.indexOf('--out');
  const o: FuzzOptions = {
    programs: arg('programs', 500),
    seed: arg('seed', 1),
    jobs: arg('jobs', 2),
    timeoutMs: arg('timeout', 30) * 1000,
    memoryCapMiB: arg('memory', 1536),
    outDir: outIdx >= 0 ? argv[outIdx + 1] : join(ROOT, 'fuzz-out'),
    log: (l) => console.log(l),
  };
  const t0 = Date.now();
  const replayIdx = argv.indexOf('--replay');
  if (replayIdx >= 0) {
    const results = await replay(argv[replayIdx + 1], o);
    for (const r of results) if (!['ok', 'user-error'].includes(r.outcome)) console.log(`${r.outcome}: lily ${r.argv.join(' ')}\n  ${r.err.split('\n').slice(0, 2).join('\n  ')}`);
    const bad = results.filter((r) => !['ok', 'user-error'].includes(r.outcome)).length;
    console.log(`replayed ${results.length} runs: ${bad} still fail`);
    process.exitCode = bad ? 1 : 0;
    return;
  }
  const rep = await fuzz(o);
  console.log(`\n${rep.programs} mutated programs, ${rep.runs} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s (timeout ${o.timeoutMs / 1000} s of CPU time, ${(6 * o.timeoutMs) / 1000} s wall; memory cap ${o.memoryCapMiB} MiB)`);
  console.log(`outcomes: ${Object.entries(rep.counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const [cmd, c] of Object.entries(rep.byCommand)) console.log(`  ${cmd.padEnd(8)} ${Object.entries(c).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`slowest run ${rep.maxMs} ms, peak resident memory ${rep.peakMiB} MiB; report: ${join(o.outDir, 'report.json')}`);
  console.log('most CPU time:');
  for (const s of rep.slowest) console.log(`  ${(s.cpuMs / 1000).toFixed(1)} s CPU (${(s.ms / 1000).toFixed(1)} s wall, ${s.outcome}): lily ${s.argv.join(' ')}`);
  const bad = rep.counts['internal-error'] + rep.counts.hang + rep.counts.memory + rep.counts.crash;
  process.exitCode = bad ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await cli(process.argv.slice(2));
