// Every stdlib and example file checks clean, and every adapter and model evaluates at small sizes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LilyError, formatDiagnostic } from '../compiler/diagnostics.ts';
import { loadFile } from '../compiler/frontend.ts';
import { runEntry } from '../compiler/interp/run.ts';

const root = new URL('..', import.meta.url).pathname;
const walk = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : n.endsWith('.lily') ? [join(d, n)] : []));
const files = [...walk(join(root, 'stdlib')), ...walk(join(root, 'examples'))];

// Small sizes under which every stdlib adapter's dimension arithmetic is whole (In / f etc.).
const SIZES = { N: 3, In: 8, Out: 8, B: 2, T: 3, D: 8, r: 2, E: 2, P: 2, n: 4, f: 2, rh: 4, H: 2, F: 8, K: 4, L: 2, C: 4, k: 1, h: 3, b: 4 };

describe('stdlib', () => {
  it('has the adapters the papers need', () => expect(files.length).toBeGreaterThan(12));
  for (const file of files)
    it(`${file.slice(root.length)} checks clean and runs`, () => {
      const source = readFileSync(file, 'utf8');
      let checked;
      try {
        checked = loadFile(file); // with its imports
      } catch (e) {
        if (e instanceof LilyError) throw new Error(e.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n'));
        throw e;
      }
      for (const unit of checked.units.values()) {
        if (!unit.methods.has('delta') && !unit.methods.has('forward')) continue;
        if (unit.decl.hypers.some((h) => !h.default && !(h.name in SIZES))) continue; // needs explicit sizes
        const out = runEntry(checked, unit.decl.name, { settings: SIZES, params: 'random', seed: 1 }).output;
        expect(out.kind).toBe('tensor');
        if (out.kind === 'tensor') expect((out.t as { data: Float64Array }).data.every(Number.isFinite), `${unit.decl.name} produced non-finite values`).toBe(true);
      }
    });
});
