// The CLI's conventions, command by command: under --json exactly one JSON object on stdout, for
// success and for errors ({"error": {code, message, file, line, col}}; a failed check prints its
// result with "ok": false); exit codes 0/1/2/3; the
// exit codes in `lily --help`; examples in every command's --help; shell completion that completes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMAND_NAMES, main, VERSION } from './main.ts';

async function lily(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** stdout must parse as one JSON object (not an array, not JSON lines). */
const oneObject = (text: string): Record<string, any> => {
  const v = JSON.parse(text);
  expect(v !== null && typeof v === 'object' && !Array.isArray(v), text.slice(0, 200)).toBe(true);
  return v;
};

const dir = mkdtempSync(join(tmpdir(), 'lily-json-'));
const bad = join(dir, 'bad.lily');
writeFileSync(bad, 'adapter X(r: Dim) on Linear[In, Out] {\n  param A: [In, r = zeros\n}\n');
const LORA = 'stdlib/adapters/lora.lily';
const log = join(dir, 'run.jsonl');
writeFileSync(log, '{"step":1,"loss":2,"lr":0.01,"time":0}\n{"step":2,"loss":1,"lr":0.01,"time":0.1}\n');
const LILY = 'stdlib/adapters/lily.lily';

// [command line, exit code]; each command once succeeding and once failing.
const CASES: [string[], number][] = [
  [['check', LORA], 0],
  [['check', bad], 1],
  [['run', LORA, '--fn', 'LoRA', '--dims', 'N=2,In=3,Out=3,r=1'], 0],
  [['run', LORA, '--fn', 'Nope', '--dims', 'N=2,In=3,Out=3,r=1'], 1],
  [['params', LILY, '--adapter', 'Lily', '--dims', 'In=8,Out=8,r=2,E=2'], 0],
  [['params', bad], 1],
  [['compile', LORA, '--adapter', 'LoRA', '--dims', 'N=2,In=3,Out=3,r=1', '--explain'], 0],
  [['compile', LORA, '--adapter', 'LoRA', '--dims', 'N=two'], 1],
  [['verify', LORA, '--runs', '2'], 0],
  [['verify', LILY, '--adapter', 'LilyToken', '--inject-fault', 'unsound-expert-fold', '--runs', '5'], 1],
  [['merge', LORA, '--adapter', 'LoRA', '--dims', 'In=3,Out=2,r=1'], 0],
  [['merge', LILY, '--adapter', 'Lily', '--dims', 'In=3,Out=2,r=1'], 1],
  [['train', LORA, '--adapter', 'LoRA', '--steps', '3', '--backend', 'cpu'], 0],
  [['train', LORA, '--adapter', 'LoRA', '--steps', '0'], 1],
  [['train', join(dir, 'missing.lily'), '--adapter', 'LoRA'], 1],
  [['eval', 'examples/fashion.lily', '--model', 'Base', '--data', 'fashion-mnist'], 0],
  [['eval', 'examples/fashion.lily', '--model', 'Base', '--data', 'nope'], 1],
  [['compare', 'stdlib/models/vit.lily', '--model', 'ViT', '--methods', 'linear-probe', '--steps', '1', '--batch', '250', '--out', join(dir, 'compare')], 0],
  [['compare', 'stdlib/models/vit.lily', '--model', 'ViT', '--methods', 'lorax'], 1],
  [['export', LORA, '--adapter', 'LoRA', '-o', join(dir, 'lora.py')], 0],
  [['export', LORA, '-o', join(dir, 'none.py')], 1],
  [['plot', log, '-o', join(dir, 'loss.svg')], 0],
  [['plot', join(dir, 'missing.jsonl')], 1],
  [['nope'], 2],
  [['check', '--no-such-option', LORA], 2],
];

describe('--json: one object per command, errors included', () => {
  it('covers every command that takes --json', () => {
    const covered = new Set(CASES.map(([argv]) => argv[0]));
    expect(COMMAND_NAMES.filter((c) => c !== 'completion' && c !== 'lsp' && !covered.has(c))).toEqual([]);
  });

  for (const [argv, code] of CASES)
    it(`lily ${argv.join(' ')} --json → exit ${code}`, async () => {
      const r = await lily(...argv, '--json');
      expect(r.code, r.err).toBe(code);
      const v = oneObject(r.out);
      if (code === 0) expect(v.error).toBeUndefined();
      else if (v.ok === false && !v.error) expect(code).toBe(1); // a failed check: its result, with ok: false
      else {
        expect(typeof v.error.code).toBe('string');
        expect(typeof v.error.message).toBe('string');
        for (const k of ['file', 'line', 'col']) expect(v.error).toHaveProperty(k);
      }
    });

  it('a parse error carries file, line and col', async () => {
    const v = oneObject((await lily('check', bad, '--json')).out);
    expect(v.ok).toBe(false);
    expect(v.error).toMatchObject({ code: 'E-parse', file: bad, line: 2, col: 19 });
  });

  it('a file that cannot be read names the file', async () => {
    const v = oneObject((await lily('train', join(dir, 'missing.lily'), '--adapter', 'LoRA', '--json')).out);
    expect(v.error).toMatchObject({ code: 'E-file', file: join(dir, 'missing.lily'), line: null, col: null });
  });

});

describe('help, version, completion', () => {
  it('lily --help documents the exit codes; --version is package.json\'s', async () => {
    const h = await lily('--help');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/Exit codes:[\s\S]*0 {2}success[\s\S]*1 {2}a user error[\s\S]*2 {2}usage[\s\S]*3 {2}internal error/);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(VERSION).toBe(pkg.version);
    expect((await lily('--version')).out).toBe(pkg.version);
  });

  it('every command\'s --help ends with examples', async () => {
    for (const name of COMMAND_NAMES) {
      const h = await lily(name, '--help');
      expect(h.code, name).toBe(0);
      expect(h.out, name).toMatch(new RegExp(`Examples:\\n {2}\\$ lily ${name} `));
    }
  });

  it('bash completion completes commands, options and option values', async () => {
    const script = (await lily('completion', 'bash')).out;
    const complete = (words: string[]) => {
      const r = spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _lily; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      return r.stdout.trim().split(' ');
    };
    expect(complete(['lily', 'ch'])).toEqual(['check']);
    expect(complete(['lily', 'train', 'x.lily', '--ste'])).toEqual(['--steps']);
    expect(complete(['lily', 'train', 'x.lily', '--backend', 'we'])).toEqual(['webgpu', 'webgl2', 'webasm']);
    const fish = await lily('completion', 'fish');
    expect(fish.out).toContain("complete -c lily -n '__fish_seen_subcommand_from train' -l backend -xa 'auto cpu");
    expect((await lily('completion', 'tcsh')).code).toBe(1);
  });
});
