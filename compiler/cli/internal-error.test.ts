// An internal error (a bug, not the user's): exit 3, one E-internal object under --json, no stack
// trace. In its own file: it swaps a command module for one that throws (vi.doMock), and a fresh
// module graph must not leak into the other CLI tests.
import type { Command } from 'commander';
import { expect, it, vi } from 'vitest';

const oneObject = (text: string): Record<string, any> => {
  const v = JSON.parse(text);
  expect(v !== null && typeof v === 'object' && !Array.isArray(v)).toBe(true);
  return v;
};

it('an internal error (a bug) is exit 3 with an E-internal object and no stack trace', async () => {
  vi.resetModules();
  vi.doMock('./cmd-params.ts', () => ({
    registerParams: (program: Command, _io: unknown, wrap: (fn: () => number) => (...a: unknown[]) => Promise<void>) =>
      program.command('params').option('--json').action(wrap(() => (undefined as unknown as { x: number }).x)),
  }));
  const fresh = (await import('./main.ts')).main;
  const out: string[] = [];
  const err: string[] = [];
  const code = await fresh(['params', '--json'], { out: (t) => out.push(t), err: (t) => err.push(t) });
  vi.doUnmock('./cmd-params.ts');
  expect(code).toBe(3);
  expect(oneObject(out.join('\n')).error).toMatchObject({ code: 'E-internal', message: expect.stringContaining("reading 'x'") });
  expect(err.join('\n')).toContain('this is a bug in lily');
  expect(err.join('\n')).not.toMatch(/at .*\.ts:\d+/);
});
