// The language conformance suite: every spec/conformance/*.lily file states what must happen to it
// in its leading comments:
//   -- expect: ok                       checks clean
//   -- expect: error E-shape at 4:21    the first diagnostic's code and line:col
//   -- expect-message: <text>           ... and its message contains <text>
//   -- run: f --dims N=2 --inputs x=[[1,2]]   then   -- output: <JSON>   (to 1e-9)
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LilyError } from '../compiler/diagnostics.ts';
import { checkSource } from '../compiler/frontend.ts';
import { resultJson, runEntry } from '../compiler/interp/run.ts';
import { parseInputs, parseSettings } from '../compiler/cli/options.ts';

const dir = new URL('./conformance/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.lily')).sort();

interface Expectation {
  ok: boolean;
  code?: string;
  at?: [number, number];
  message?: string;
  runs: { fn: string; dims?: string; inputs?: string; output: unknown }[];
}

function expectationsOf(source: string, file: string): Expectation {
  const lines = source.split('\n').map((l) => l.trim());
  const exp: Expectation = { ok: false, runs: [] };
  let pendingRun: Omit<Expectation['runs'][number], 'output'> | undefined;
  let sawExpect = false;
  for (const l of lines) {
    let m: RegExpExecArray | null;
    if ((m = /^-- expect: ok\b/.exec(l))) (exp.ok = true), (sawExpect = true);
    else if ((m = /^-- expect: error (E-[\w-]+)(?: at (\d+):(\d+))?/.exec(l))) {
      sawExpect = true;
      exp.code = m[1];
      if (m[2]) exp.at = [Number(m[2]), Number(m[3])];
    } else if ((m = /^-- expect-message: (.*)$/.exec(l))) exp.message = m[1].trim();
    else if ((m = /^-- run: (\S+)(.*)$/.exec(l))) {
      const rest = m[2];
      pendingRun = { fn: m[1], dims: /--dims (\S+)/.exec(rest)?.[1], inputs: /--inputs (.+)$/.exec(rest)?.[1]?.trim() };
    } else if ((m = /^-- output: (.*)$/.exec(l))) {
      if (!pendingRun) throw new Error(`${file}: '-- output:' without a preceding '-- run:'`);
      exp.runs.push({ ...pendingRun, output: JSON.parse(m[1]) });
      pendingRun = undefined;
    }
  }
  if (!sawExpect) throw new Error(`${file}: no '-- expect:' line`);
  return exp;
}

function close(got: unknown, want: unknown, path = ''): string | undefined {
  if (typeof want === 'number') return typeof got === 'number' && Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)) ? undefined : `${path}: got ${got}, want ${want}`;
  if (typeof want === 'boolean') return got === want ? undefined : `${path}: got ${got}, want ${want}`;
  if (!Array.isArray(want) || !Array.isArray(got) || got.length !== want.length) return `${path}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;
  for (let i = 0; i < want.length; i++) {
    const d = close(got[i], want[i], `${path}[${i}]`);
    if (d) return d;
  }
  return undefined;
}

describe('conformance suite', () => {
  it('has programs', () => expect(files.length).toBeGreaterThan(10));
  for (const f of files)
    it(f, () => {
      const source = readFileSync(new URL(f, dir), 'utf8');
      const exp = expectationsOf(source, f);
      let checked;
      try {
        checked = checkSource(source, f);
      } catch (e) {
        if (!(e instanceof LilyError)) throw e;
        const d = e.diagnostics[0];
        expect(exp.ok, `unexpected error: ${d.code} at ${d.span?.line}:${d.span?.col}: ${d.message}`).toBe(false);
        expect(d.code).toBe(exp.code);
        if (exp.at) expect([d.span?.line, d.span?.col]).toEqual(exp.at);
        if (exp.message) expect(d.message + (d.expected ?? '') + (d.found ?? '')).toContain(exp.message);
        return;
      }
      expect(exp.ok, `expected ${exp.code} but the program checked clean`).toBe(true);
      for (const r of exp.runs) {
        const out = runEntry(checked, r.fn, { settings: parseSettings(r.dims), inputs: parseInputs(r.inputs) }).output;
        const got = resultJson(out);
        const diff = close(got, r.output);
        expect(diff, `${r.fn}: ${diff}`).toBeUndefined();
      }
    });
});
