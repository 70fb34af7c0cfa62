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
const EXPORT = { N: 8, In: 16, Out: 16, r: 3, E: 3, m: 4, n: 4, rh: 4, f: 2, P: 2, b: 4, h: 6, k: 2 };
const BACKWARDS = ['autograd', 'compiled'] as const;
const CHECK = { N: 5, In: 12, Out: 8, r: 2, E: 2, m: 4, n: 2, rh: 4, f: 2, P: 3, b: 2, h: 5, k: 2 };

// Every adapter of the stdlib, and LoRA with PEFT's lora_dropout (a training mode that differs).
const adapters: { file: string; checked: CheckedProgram; name: string; label: string; hypers?: Record<string, number> }[] = [];
for (const f of readdirSync(join(root, 'stdlib/adapters')).filter((n) => n.endsWith('.lily')).sort()) {
  const file = join('stdlib/adapters', f);
  const checked = loadFile(join(root, file));
  for (const u of checked.units.values()) if (u.decl.kind === 'adapter') adapters.push({ file, checked, name: u.decl.name, label: u.decl.name });
  if (f === 'lora.lily') adapters.push({ file, checked, name: 'LoRA', label: 'LoRA drop=0.25', hypers: { drop: 0.25 } });
}

describe.skipIf(missing)(`torch export of every stdlib adapter${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const reports = new Map<string, CheckReport>();
  const exports = new Map<string, TorchExport>();
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lily-torch-'));
    const cases = adapters.flatMap(({ file, checked, name, label, hypers: given }) => BACKWARDS.map((backward) => {
      const unit = checked.units.get(name)!;
      const own = (s: Record<string, number>) => ({ ...Object.fromEntries(Object.entries(s).filter(([k]) => ['N', 'In', 'Out'].includes(k) || unit.decl.hypers.some((h) => h.name === k))), ...given });
      const ex = exportAdapterToTorch(checked, name, { settings: own(EXPORT), file, sha256: 'test', backward });
      exports.set(`${label}:${backward}`, ex);
      const module = join(dir, `${label.replace(/\W/g, '_')}-${backward}.py`);
      writeFileSync(module, ex.code);
      const at = own(EXPORT) as Record<string, number>;
      for (const [k, v] of Object.entries(own(CHECK))) if (ex.info.free.includes(k)) at[k] = v;
      const hypers = Object.fromEntries(Object.entries(at).filter(([k]) => unit.decl.hypers.some((h) => h.name === k)));
      const magnitude = Object.values(ex.info.keys).some((k) => k.layout === 'magnitude');
      return { module, checked, adapter: name, label, settings: at, hypers, adamwSteps: 3, weightDecay: magnitude ? 0 : 0.01, backward, training: ex.info.trainDiffers };
    }));
    (await checkExports(cases)).forEach((r, i) => reports.set(`${cases[i].label}:${cases[i].backward}`, r));
  }, 240_000);

  for (const { label } of adapters)
    for (const backward of BACKWARDS)
      it(`${label} (${backward} backward): forward and gradients to 1e-9, AdamW to 1e-4`, () => {
        const r = reports.get(`${label}:${backward}`)!;
        expect(r.problems).toEqual([]);
        expect(Object.keys(r.errors)).toContain('y');
        expect(Object.keys(r.errors).some((k) => k.startsWith('adamw:'))).toBe(true);
        const ex = exports.get(`${label}:${backward}`)!;
        if (ex.info.mergeable) expect(r.errors.merged).toBeLessThanOrEqual(1e-9);
        // a training mode that differs is compared too, with the same random draws
        if (ex.info.trainDiffers) expect(r.errors['train:y']).toBeLessThanOrEqual(1e-9);
      });

  it('renders a training program where the mode matters (dropout, the sampled rank of DyLoRA), and only there', () => {
    expect(exports.get('LoRA drop=0.25:autograd')!.info.trainDiffers).toBe(true);
    expect(exports.get('DyLoRA:autograd')!.info.trainDiffers).toBe(true);
    expect(exports.get('LoRA:autograd')!.info.trainDiffers).toBe(false);
  });

  it('computes `from` initialisers (SVD of the base weight) in torch, equal to ours', () => {
    for (const name of ['PiSSA', 'MiLoRA', 'LoRAXS']) expect(Object.keys(reports.get(`${name}:autograd`)!.errors).filter((k) => k.startsWith('from:')).length).toBeGreaterThan(0);
  });

  it('keeps the batch, the layer width and the rank free where the program allows', () => {
    expect(exports.get('Lily:autograd')!.info.free).toEqual(expect.arrayContaining(['N', 'In', 'Out', 'r', 'E']));
    expect(exports.get('LoRA:autograd')!.info.free).toEqual(expect.arrayContaining(['N', 'In', 'Out']));
  });
});

// QR (no stdlib adapter uses it) and the SVD of a wide weight (In < Out: Lily fixes V's signs
// then), computed in torch at construction, against ours.
const DECOMPOSITIONS = `adapter QRInit(r: Dim = 2) on Linear[In, Out] where r <= In, r <= Out {
  buffer Q: [In, r] = from qr_q(base.W)[:, :r]
  param R: [r, Out] = from qr_r(base.W)[:r, :] * 0.1
  param S: [Out, r] = from svd_v(base.W)[:, :r]
  delta(x: [N, In]) -> [N, Out] = x @ Q @ R + (x @ Q @ transpose(S)) @ S @ transpose(S)
}
`;
describe.skipIf(missing)(`torch export of QR and wide-SVD initialisers${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it.each([
    ['tall', { N: 4, In: 12, Out: 9, r: 3 }],
    ['wide', { N: 4, In: 7, Out: 12, r: 3 }],
  ])('%s weight: Q, R and V as torch computes them equal ours (1e-9), and the layer checks', async (_, settings) => {
    const dir = mkdtempSync(join(tmpdir(), 'lily-torch-qr-'));
    const file = join(dir, 'qr.lily');
    writeFileSync(file, DECOMPOSITIONS);
    const checked = loadFile(file);
    const ex = exportAdapterToTorch(checked, 'QRInit', { settings: { N: 8, In: 10, Out: 6, r: 2 }, file, sha256: 'test' });
    expect(ex.info.free).toEqual(expect.arrayContaining(['In', 'Out', 'r']));
    const module = join(dir, 'qr.py');
    writeFileSync(module, ex.code);
    const [r] = await checkExports([{ module, checked, adapter: 'QRInit', settings, hypers: { r: settings.r }, adamwSteps: 1 }]);
    expect(r.problems).toEqual([]);
    for (const k of ['from:Q', 'from:R', 'from:S']) expect(r.errors[k]).toBeLessThanOrEqual(1e-9);
  }, 60_000);
});

// At r = alpha (LoRA's defaults) alpha / r = 1 simplifies away, and every other r gives another
// program: the export renders the program one step away, which holds at r = alpha too.
describe.skipIf(missing)(`torch export at a special point${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('LoRA at r = alpha = 8 stays generic in r, and checks at r = 8 and r = 5', async () => {
    const file = 'stdlib/adapters/lora.lily';
    const checked = loadFile(join(root, file));
    const ex = exportAdapterToTorch(checked, 'LoRA', { settings: { N: 8, In: 16, Out: 12 }, file, sha256: 'test' });
    expect(ex.info.free).toEqual(expect.arrayContaining(['N', 'In', 'Out', 'r']));
    const module = join(mkdtempSync(join(tmpdir(), 'lily-torch-special-')), 'lora.py');
    writeFileSync(module, ex.code);
    const reports = await checkExports([8, 5].map((r) => ({ module, checked, adapter: 'LoRA', settings: { N: 4, In: 16, Out: 12, r }, hypers: { r }, adamwSteps: 1 })));
    for (const r of reports) expect(r.problems).toEqual([]);
  }, 60_000);
});
