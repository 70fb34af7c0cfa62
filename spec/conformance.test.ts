// The language conformance suite: every spec/conformance/*.lily file states what must happen to it
// in its leading comments:
//   -- expect: ok                       checks clean
//   -- expect: error E-shape at 4:21    the first diagnostic's code and line:col
//   -- expect-message: <text>           ... and its message contains <text>
//   -- run: f --dims N=2 [--training] [--step K] --inputs x=[[1,2]]   then   -- output: <JSON>   (to 1e-9)
//                                                                     or   -- run-error: E-code  (a located run-time diagnostic)
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
  runs: { fn: string; dims?: string; inputs?: string; training?: boolean; step?: number; output?: unknown; error?: string }[];
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
      const inputs = /--inputs (.+)$/.exec(rest)?.[1]?.trim();
      const flags = inputs === undefined ? rest : rest.slice(0, rest.indexOf('--inputs'));
      const step = /--step (\d+)/.exec(flags)?.[1];
      pendingRun = { fn: m[1], dims: /--dims (\S+)/.exec(flags)?.[1], inputs, training: /--training\b/.test(flags), step: step === undefined ? undefined : Number(step) };
    } else if ((m = /^-- (output|run-error): (.*)$/.exec(l))) {
      if (!pendingRun) throw new Error(`${file}: '-- ${m[1]}:' without a preceding '-- run:'`);
      exp.runs.push({ ...pendingRun, ...(m[1] === 'output' ? { output: JSON.parse(m[2]) } : { error: m[2].trim() }) });
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
        const run = () => runEntry(checked, r.fn, { settings: parseSettings(r.dims), inputs: parseInputs(r.inputs), mode: { training: r.training, step: r.step ?? 0 } }).output;
        if (r.error) {
          // A run-time diagnostic (sizes known only at instantiation): a located LilyError, code given.
          let caught: unknown;
          try {
            run();
          } catch (e) {
            caught = e;
          }
          expect(caught instanceof LilyError, `${r.fn}: expected ${r.error}, got ${String(caught)}`).toBe(true);
          expect((caught as LilyError).diagnostics[0].code).toBe(r.error);
          expect((caught as LilyError).diagnostics[0].span, `${r.fn}: the ${r.error} diagnostic has no location`).toBeDefined();
          continue;
        }
        const out = run();
        const got = resultJson(out);
        const diff = close(got, r.output);
        expect(diff, `${r.fn}: ${diff}`).toBeUndefined();
      }
    });
});
