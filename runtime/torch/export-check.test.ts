// Every stdlib adapter exported to PyTorch matches our float64 reference (forward, every gradient,
// 1e-9) at sizes other than those it was exported at (the module is size-generic where the export
// says so), and 3 AdamW steps match our float32 runtime; with torch autograd (the default) and with
// the compiler's backward program. One Python process for all of them.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../compiler/ir/prims.ts';
import { exportAdapterToTorch, type TorchExport } from '../../compiler/codegen/torch-module.ts';
import { loadFile } from '../../compiler/frontend.ts';
import type { CheckedProgram } from '../../compiler/check/check.ts';
import { checkExports, torchMissing, type CheckReport } from './check.ts';

const root = new URL('../..', import.meta.url).pathname;
const missing = torchMissing();
// Export sizes, and the (different) sizes the check runs at for dimensions the export keeps free.
const EXPORT = { N: 8, In: 16, Out: 16, r: 3, E: 3, m: 4, n: 5, rh: 4, f: 2, P: 2 };
const BACKWARDS = ['autograd', 'compiled'] as const;
const CHECK = { N: 5, In: 12, Out: 8, r: 2, E: 2, m: 3, n: 4, rh: 4, f: 2, P: 3 };

const adapters: { file: string; checked: CheckedProgram; name: string }[] = [];
for (const f of readdirSync(join(root, 'stdlib/adapters')).filter((n) => n.endsWith('.lily')).sort()) {
  const file = join('stdlib/adapters', f);
  const checked = loadFile(join(root, file));
  for (const u of checked.units.values()) if (u.decl.kind === 'adapter') adapters.push({ file, checked, name: u.decl.name });
}

describe.skipIf(missing)(`torch export of every stdlib adapter${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const reports = new Map<string, CheckReport>();
  const exports = new Map<string, TorchExport>();
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lily-torch-'));
    const cases = adapters.flatMap(({ file, checked, name }) => BACKWARDS.map((backward) => {
      const unit = checked.units.get(name)!;
      const own = (s: Record<string, number>) => Object.fromEntries(Object.entries(s).filter(([k]) => ['N', 'In', 'Out'].includes(k) || unit.decl.hypers.some((h) => h.name === k)));
      const ex = exportAdapterToTorch(checked, name, { settings: own(EXPORT), file, sha256: 'test', backward });
      exports.set(`${name}:${backward}`, ex);
      const module = join(dir, `${name}-${backward}.py`);
      writeFileSync(module, ex.code);
      const at = own(EXPORT) as Record<string, number>;
      for (const [k, v] of Object.entries(own(CHECK))) if (ex.info.free.includes(k)) at[k] = v;
      const hypers = Object.fromEntries(Object.entries(at).filter(([k]) => unit.decl.hypers.some((h) => h.name === k)));
      const magnitude = Object.values(ex.info.keys).some((k) => k.layout === 'magnitude');
      return { module, checked, adapter: name, settings: at, hypers, adamwSteps: 3, weightDecay: magnitude ? 0 : 0.01, backward };
    }));
    (await checkExports(cases)).forEach((r, i) => reports.set(`${r.adapter}:${cases[i].backward}`, r));
  }, 240_000);

  for (const { name } of adapters)
    for (const backward of BACKWARDS)
      it(`${name} (${backward} backward): forward and gradients to 1e-9, AdamW to 1e-4`, () => {
        const r = reports.get(`${name}:${backward}`)!;
        expect(r.problems).toEqual([]);
        expect(Object.keys(r.errors)).toContain('y');
        expect(Object.keys(r.errors).some((k) => k.startsWith('adamw:'))).toBe(true);
        if (exports.get(`${name}:${backward}`)!.info.mergeable) expect(r.errors.merged).toBeLessThanOrEqual(1e-9);
      });

  it('keeps the batch, the layer width and the rank free where the program allows', () => {
    expect(exports.get('Lily:autograd')!.info.free).toEqual(expect.arrayContaining(['N', 'In', 'Out', 'r', 'E']));
    expect(exports.get('LoRA:autograd')!.info.free).toEqual(expect.arrayContaining(['N', 'In', 'Out']));
  });
});
