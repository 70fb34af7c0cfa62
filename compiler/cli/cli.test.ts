// The CLI end to end, in process: exit codes, messages, and no stack traces.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from './main.ts';

async function lily(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const dir = mkdtempSync(join(tmpdir(), 'lily-cli-'));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('lily CLI', () => {
  it('check: stdlib passes', async () => {
    const r = await lily('check', 'stdlib');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('adapter Lily');
  });

  it('check: a malformed program exits 1 with file:line:col, a caret, and no stack trace', async () => {
    const f = write('bad.lily', 'adapter X(r: Dim) on Linear[In, Out] {\n  param A: [In, r = zeros\n}\n');
    const r = await lily('check', f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:2:19: error[E-parse]`);
    expect(r.err).toMatch(/\^/);
    expect(r.err).not.toMatch(/at .*\.ts:\d+/);
  });

  it('check: a shape error names what was expected and found', async () => {
    const f = write('shape.lily', 'fn f(x: [N, D], w: [K, D]) -> [N, K] = x @ w\n');
    const r = await lily('check', f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(':1:42: error[E-shape]');
    expect(r.err).toContain('found:    [N, D] @ [K, D]');
  });

  it('check: a missing file is a clear error', async () => {
    const r = await lily('check', join(dir, 'nope.lily'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot read');
  });

  it('run: evaluates a function on given inputs', async () => {
    const f = write('f.lily', 'fn f(x: [N, D]) -> [N] = sum[D](x * x)\n');
    const r = await lily('run', f, '--fn', 'f', '--inputs', 'x=[[1,2],[3,4]]', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).output).toEqual([5, 25]);
  });

  it('run: bad --dims are a usage error, not a crash', async () => {
    const r = await lily('run', 'stdlib/adapters/lora.lily', '--fn', 'LoRA', '--dims', 'N=two');
    expect(r.code).toBe(1);
    expect(r.err).toContain('--dims');
  });

  it('params: reproduces the PEFT count for Lily', async () => {
    const r = await lily('params', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--dims', 'In=768,Out=768,r=16,E=4,stride=3', '--layers', '12', '--json');
    expect(r.code).toBe(0);
    const unit = JSON.parse(r.out).units[0];
    expect(unit.trainable).toBe(Math.ceil(12 / 3) * 16 * 768 + 4 * 16 * 768 + 12 * 16 * 4);
  });
});
