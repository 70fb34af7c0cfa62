// The fuzzer in CI: a small, fixed-seed sample of mutated programs through every command, each in
// a supervised child process. No run may end in an internal error, a hang or a memory overrun.
// The full run is `npm run fuzz` (500 programs).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fuzz } from './fuzz.ts';
import { MUTATIONS, mutateProgram } from './mutate.ts';
import { Rand } from './rng.ts';

describe('fuzz', () => {
  it('mutations are reproducible from the seed and change the program', () => {
    const src = 'adapter A(r: Dim = 4) on Linear[In, Out] {\n  param M: [In, r] = zeros\n  delta(x: [N, In]) -> [N, Out] = (x @ M) @ transpose(M)\n}\n';
    const a = mutateProgram(src, new Rand(5), 2);
    const b = mutateProgram(src, new Rand(5), 2);
    expect(a).toEqual(b);
    expect(a.source).not.toBe(src);
    expect(new Set(MUTATIONS.map((m) => m.name)).size).toBe(MUTATIONS.length);
  });

  it('a fixed sample of mutated programs through every command: no internal error, hang or memory overrun', async () => {
    const report = await fuzz({ programs: 6, seed: 3, jobs: 2, timeoutMs: 30_000, memoryCapMiB: 1536, outDir: mkdtempSync(join(tmpdir(), 'lily-fuzz-')) });
    const failures = report.failures.map((f) => `${f.result.outcome}: lily ${f.result.argv.join(' ')} [${f.seed} + ${f.applied.join(', ')}]\n${f.result.err}`);
    expect(failures).toEqual([]);
    expect(report.runs).toBe(6 * 7);
    expect(Object.keys(report.byCommand).sort()).toEqual(['check', 'compile', 'merge', 'params', 'run', 'train', 'verify']);
    // The sample exercises both sides: programs that run and user errors that are reported.
    expect(report.counts.ok).toBeGreaterThan(0);
    expect(report.counts['user-error']).toBeGreaterThan(0);
  }, 240_000);
});
