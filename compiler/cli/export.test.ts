// lily export: what it writes and how it refuses (exit 1, a clear message, nothing written).
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lily } from './run-in-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'lily-export-'));
const src = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const LOW_RANK = (name: string, sharing = '') => `adapter ${name}(r: Dim = 2, k: Int = 1) on Linear[In, Out] {
  param A: [In, r] = zeros ${sharing}
  param B: [r, Out] = zeros
  delta(x: [N, In]) -> [N, Out] = x @ A @ B
}
`;

// Noise in the forward, also in evaluation: torch draws it (torch.rand), an ONNX graph cannot.
const NOISY = `adapter Noisy on Linear[In, Out] {
  param A: [In, Out] = zeros
  delta(x: [N, In]) -> [N, Out] = x @ A + 0.01 * uniform[N, Out]()
}
`;

describe('lily export --to torch', () => {
  it('writes a module with the source and its hash in the header, PEFT names for a PEFT method', async () => {
    const out = join(dir, 'lily.py');
    const r = await lily('export', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--dims', 'r=4,E=3', '-o', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const code = readFileSync(out, 'utf8');
    const sha = createHash('sha256').update(readFileSync('stdlib/adapters/lily.lily')).digest('hex');
    expect(code).toContain(`from stdlib/adapters/lily.lily (sha256 ${sha}), adapter Lily`);
    expect(code).toContain('key="lily_A.weight"');
    expect(code).toContain('key="lily_router.weight"');
    expect(code).toContain('key="lily_B.weight"');
    // the fold travels: the experts are mixed first ([E, r, Out] with p), then one matmul
    expect(code).toMatch(/torch\.einsum\('cab,c->ab', P\["B"\]/);
    expect(r.out).toContain('generic in N, In, Out, r, E');
  });

  it('keeps our names under the adapter for a method PEFT lacks', async () => {
    const out = join(dir, 'mine.py');
    const r = await lily('export', src('mine.lily', LOW_RANK('Mine', 'shared every k layers')), '--adapter', 'Mine', '-o', out);
    expect(r.code).toBe(0);
    const code = readFileSync(out, 'utf8');
    expect(code).toContain('key="Mine.A"');
    expect(code).toContain(`sharing=('every', "k")`);
  });

  const refusals: [string, string[], RegExp][] = [
    ['a missing --adapter', ['export', 'stdlib/adapters/lora.lily', '-o', '@OUT'], /needs --adapter NAME/],
    ['an unknown adapter', ['export', 'stdlib/adapters/lora.lily', '--adapter', 'Nope', '-o', '@OUT'], /no adapter named 'Nope'.*\n.*expected: LoRA/],
    ['a name clash with the generated module', ['export', '@CLASH', '--adapter', 'LilyAdapter', '-o', '@OUT'], /:1:9: error\[E-export\]: adapter name 'LilyAdapter' clashes/],
    ['a construct the export cannot express', ['export', '@COMPUTED', '--adapter', 'Odd', '-o', '@OUT'], /:2:42: error\[E-export\]: 'shared every … layers' with a computed count cannot be exported/],
    ['to ONNX, a program drawing random numbers in evaluation', ['export', '@NOISY', '--adapter', 'Noisy', '--to', 'onnx', '-o', '@OUT'], /noisy\.lily:1:9: error\[E-export\]: Noisy uses an input 'rand:0' besides x, which the ONNX export cannot express/],
    ['sizes that do not fit the adapter (VB-LoRA at In = 64 with b = 256)', ['export', 'stdlib/adapters/vblora.lily', '--adapter', 'VBLoRA', '-o', '@OUT'], /vblora\.lily:\d+:9: error\[E-size\]: dimension In\/b is not a whole number/],
    ['an unknown target', ['export', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--to', 'tflite', '-o', '@OUT'], /--to must be one of torch, onnx/],
    ['--adapter and --model together', ['export', 'examples/fashion.lily', '--adapter', 'Lily', '--model', 'Base', '-o', '@OUT'], /takes --adapter or --model, not both/],
    ['an unwritable output', ['export', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '-o', join(dir, 'no/such/dir/x.py')], /cannot write .*x\.py: ENOENT/],
  ];
  for (const [what, args, message] of refusals)
    it(`refuses ${what}: exit 1, a clear message, nothing written`, async () => {
      const out = join(dir, `refused-${what.replace(/\W+/g, '-')}.py`);
      const files = { '@OUT': out, '@CLASH': src('clash.lily', LOW_RANK('LilyAdapter')), '@COMPUTED': src('odd.lily', LOW_RANK('Odd', 'shared every (k + 1) layers')), '@NOISY': src('noisy.lily', NOISY) } as Record<string, string>;
      const before = readdirSync(dir).length;
      const r = await lily(...args.map((a) => files[a] ?? a));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/at .*\.ts:\d+|internal error/);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).filter((f) => /\.tmp\.(py|onnx)$/.test(f))).toEqual([]);
      expect(readdirSync(dir).length).toBeLessThanOrEqual(before + 2);
    });
});
