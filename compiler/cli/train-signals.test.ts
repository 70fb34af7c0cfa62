// lily train as a child process: SIGINT/SIGTERM/SIGHUP save and exit 130; SIGKILL at a random step
// loses at most --save-every steps, and the run continues from what is on disk.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from './main.ts';
import { listCheckpoints } from '../../runtime/trainer/checkpoints.ts';

const dir = mkdtempSync(join(tmpdir(), 'lily-sig-'));
const EVERY = 10;
const args = (root: string, log: string) => ['train', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--backend', 'cpu', '--steps', '1000000', '--save-every', String(EVERY), '--save', root, '--log', log];

/** Steps logged so far (the log gets one line per finished step). */
const logged = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').flatMap((l) => { try { return [JSON.parse(l).step as number]; } catch { return []; } }) : []);

async function startAndWait(root: string, log: string, steps: number) {
  const child = spawn(process.execPath, ['bin/lily.js', ...args(root, log)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 40_000;
  while (logged(log).length < steps) {
    if (Date.now() > deadline) throw new Error(`the child did not reach step ${steps}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, exited, stderr: () => stderr };
}

// A fixed-seed generator: the "random" kill points are the same on every run.
let seed = 12345;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

describe('lily train under signals', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)('%s saves the current state and exits 130', async (signal) => {
    const root = join(dir, signal);
    const log = join(dir, `${signal}.jsonl`);
    const run = await startAndWait(root, log, 15);
    run.child.kill(signal);
    const { code } = await run.exited;
    expect(code).toBe(130);
    expect(run.stderr()).toMatch(new RegExp(`interrupted by ${signal} after step (\\d+); the last good state \\(step \\1\\) is in`));
    const newest = listCheckpoints(root).at(-1)!;
    expect(newest.step).toBeGreaterThanOrEqual(Math.max(...logged(log)));
    expect(readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('SIGKILL at a random step loses at most --save-every steps; the run resumes from disk', async () => {
    for (let trial = 0; trial < 2; trial++) {
      const root = join(dir, `kill-${trial}`);
      const log = join(dir, `kill-${trial}.jsonl`);
      const run = await startAndWait(root, log, 5 + Math.floor(random() * 60));
      run.child.kill('SIGKILL');
      expect((await run.exited).signal).toBe('SIGKILL');
      const done = Math.max(...logged(log));
      const saved = listCheckpoints(root).at(-1)?.step ?? 0;
      expect(done - saved).toBeLessThanOrEqual(EVERY);
      expect(saved).toBeLessThanOrEqual(done + 1);
      // Whatever the kill interrupted, the folder resumes cleanly (and temp leftovers are removed).
      const err: string[] = [];
      const code = await main(['train', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--backend', 'cpu', '--steps', String(saved + 3), '--save', root, ...(saved ? ['--resume', root] : [])], { out: () => {}, err: (t) => err.push(t) });
      expect(code, err.join('\n')).toBe(0);
      expect(readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);
      expect(listCheckpoints(root).at(-1)!.step).toBe(saved + 3);
    }
  });
});
