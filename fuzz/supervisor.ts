// Runs `lily` commands in child processes (a small pool of fuzz workers) with a wall-clock timeout
// and a resident-memory cap, and classifies each run: ok, user error (exit 1/2), internal error
// (exit 3), hang (over the timeout), memory (over the cap), or crash (the process died).
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type Outcome = 'ok' | 'user-error' | 'internal-error' | 'hang' | 'memory' | 'crash';

export interface RunResult {
  argv: string[];
  outcome: Outcome;
  code?: number;
  ms: number;
  /** CPU time the run took (what the timeout limits). */
  cpuMs: number;
  peakMiB: number;
  out: string;
  err: string;
}

export interface SupervisorOptions {
  /** CPU time a run may use (a hang is a run over it). On a shared machine wall time says little. */
  timeoutMs: number;
  memoryCapMiB: number;
  /** Wall-clock limit as a multiple of timeoutMs (for runs that wait instead of compute). */
  wallFactor?: number;
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) of a process so far, in ms (from /proc: clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

export function classify(code: number): Outcome {
  if (code === 0) return 'ok';
  if (code === 1 || code === 2) return 'user-error';
  return 'internal-error';
}

/** One worker process; restarted after a hang, a memory overrun or a crash. */
export class Worker {
  private child?: ChildProcess;
  private ready?: Promise<void>;

  constructor(private readonly opts: SupervisorOptions) {}

  private start(): Promise<void> {
    // The V8 heap limit is the cap too, so a runaway JS heap dies fast instead of swapping.
    const child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx', `--max-old-space-size=${this.opts.memoryCapMiB}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // lily's own budget sits below the cap, leaving room for Node, tsx and the loaded compiler
      // (~300 MiB): a run over the cap is then a bug in the estimate, not a refused size.
      env: { ...process.env, LILY_MAX_MEMORY: `${Math.max(64, this.opts.memoryCapMiB - 512)}MB` },
    });
    this.child = child;
    child.stderr!.on('data', () => {}); // drained; the result carries the command's own stderr
    return new Promise((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (c) => reject(new Error(`fuzz worker exited on start (${c})`)));
    });
  }

  async run(argv: string[]): Promise<RunResult> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) this.ready = this.start();
    await this.ready;
    const child = this.child!;
    const t0 = Date.now();
    const cpu0 = cpuMs(child.pid!);
    let peak = 0;
    return new Promise<RunResult>((resolve) => {
      let done = false;
      const finish = (r: Omit<RunResult, 'argv' | 'ms' | 'cpuMs' | 'peakMiB'>, kill: boolean) => {
        if (done) return;
        done = true;
        const cpu = cpuMs(child.pid!) - cpu0;
        clearInterval(poll);
        clearTimeout(timer);
        child.removeAllListeners('message');
        child.removeAllListeners('exit');
        if (kill) {
          child.kill('SIGKILL');
          this.child = undefined;
        }
        resolve({ argv, ms: Date.now() - t0, cpuMs: cpu, peakMiB: Math.round(peak), ...r });
      };
      const poll = setInterval(() => {
        peak = Math.max(peak, rssMiB(child.pid!));
        if (peak > this.opts.memoryCapMiB) finish({ outcome: 'memory', out: '', err: `resident memory ${Math.round(peak)} MiB > cap ${this.opts.memoryCapMiB} MiB` }, true);
        const cpu = cpuMs(child.pid!) - cpu0;
        if (cpu > this.opts.timeoutMs) finish({ outcome: 'hang', out: '', err: `no answer after ${cpu} ms of CPU time` }, true);
      }, 25);
      const wall = this.opts.timeoutMs * (this.opts.wallFactor ?? 6);
      const timer = setTimeout(() => finish({ outcome: 'hang', out: '', err: `no answer after ${wall} ms` }, true), wall);
      child.on('message', (m: { id: number; code: number; out: string; err: string }) => finish({ outcome: classify(m.code), code: m.code, out: m.out, err: m.err }, false));
      child.on('exit', (c, sig) => {
        this.child = undefined;
        // V8 aborts (SIGABRT / exit 134) when the heap limit — the memory cap — is reached.
        const oom = sig === 'SIGABRT' || c === 134;
        finish({ outcome: oom ? 'memory' : 'crash', code: c ?? undefined, out: '', err: `worker died (${sig ?? c})` }, false);
      });
      child.send({ id: t0, argv });
    });
  }

  stop(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }
}

/** Run every command over a pool of `jobs` workers; results in input order. */
export async function runAll(commands: string[][], jobs: number, opts: SupervisorOptions, onResult?: (r: RunResult, i: number) => void): Promise<RunResult[]> {
  const results: RunResult[] = new Array(commands.length);
  let next = 0;
  const pool = Array.from({ length: Math.max(1, jobs) }, () => new Worker(opts));
  await Promise.all(
    pool.map(async (w) => {
      while (next < commands.length) {
        const i = next++;
        results[i] = await w.run(commands[i]);
        onResult?.(results[i], i);
      }
      w.stop();
    }),
  );
  return results;
}
