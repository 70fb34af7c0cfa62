// lily export FILE --adapter NAME --to torch -o OUT.py [--dims …] [--check]: the adapter as a
// self-contained PyTorch module (compiler/codegen/torch-module.ts). The file is written only when
// everything (and the check, if asked) succeeded: never half-written.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import type { Command } from 'commander';
import { EXPORT_DEFAULTS, exportAdapterToTorch, type TorchExportOptions } from '../codegen/torch-module.ts';
import { identifyMethod } from '../../runtime/peft/identify.ts';
import { methodReference } from './model-setup.ts';
import { fail } from '../diagnostics.ts';
import { loadFile } from '../frontend.ts';
import { checkExports, checkModelExports, torchMissing } from '../../runtime/torch/check.ts';
import { exportModelToTorch } from '../codegen/torch-model.ts';
import { exportAdapterToOnnx, type OnnxExportOptions } from '../codegen/onnx-export.ts';
import { OPSET } from '../codegen/onnx-graph.ts';
import { checkOnnx, loadOrt } from '../../runtime/onnx/check.ts';
import type { CheckedProgram } from '../check/check.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { parseSettings } from './options.ts';

const TARGETS = ['torch', 'onnx'];

export function registerExport(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('export')
    .description('export an adapter (or a model) as a PyTorch module with PEFT names and layouts, or an adapted layer as an ONNX inference graph, from the compiled program')
    .argument('<file>', '.lily file')
    .option('--adapter <name>', 'the adapter to export')
    .option('--model <name>', 'a model to export instead (nn.Linear/nn.LayerNorm layers under PyTorch names)')
    .option('--to <target>', `what to write: ${TARGETS.join(', ')}`, 'torch')
    .option('-o, --out <path>', 'output file (.py, .onnx)')
    .option('--dims <list>', 'sizes and hyper-parameters the program is compiled and checked at (defaults: N=32,In=64,Out=48 and the adapter\'s defaults)', '')
    .option('--check', 'torch: run the module with Python + torch against the float64 reference (1e-9) and our float32 AdamW steps; onnx: run the graph with onnxruntime-node (float32)')
    .option('--backward <kind>', "torch: 'autograd' (torch's, over the compiled forward) or 'compiled' (the compiler's backward program in a torch.autograd.Function)", 'autograd')
    .option('--params <mode>', "onnx: the weights in the graph: 'init' (each initialiser) or 'random'", 'init')
    .option('--seed <n>', 'onnx: seed for the weights', '0')
    .option('--json', 'print one JSON object: what was written, and the check\'s errors')
    .action(
      wrap(async (file: string, o: { adapter?: string; model?: string; to: string; out?: string; dims: string; check?: boolean; params: string; seed: string; backward: string; json?: boolean }) => {
        const say = o.json ? () => {} : (t: string) => io.out(t);
        const done = (summary: Record<string, unknown>) => {
          if (o.json) io.out(JSON.stringify({ wrote: o.out, to: o.to, ...summary }));
          return 0;
        };
        if (!o.adapter && !o.model) fail('E-usage', 'lily export needs --adapter NAME (the adapter to export) or --model NAME');
        if (o.adapter && o.model) fail('E-usage', 'lily export takes --adapter or --model, not both (export each, then inject() the adapter into the model)');
        if (!TARGETS.includes(o.to)) fail('E-usage', `--to must be one of ${TARGETS.join(', ')}, found '${o.to}'`);
        if (!o.out) fail('E-usage', `lily export needs -o ${o.to === 'onnx' ? 'OUT.onnx' : 'OUT.py'} (where to write it)`);
        if (o.backward !== 'compiled' && o.backward !== 'autograd') fail('E-usage', `--backward must be compiled or autograd, found '${o.backward}'`);
        if (o.params !== 'init' && o.params !== 'random') fail('E-usage', `--params must be init or random, found '${o.params}'`);
        if (o.to === 'onnx' && o.model) fail('E-usage', '--to onnx exports an adapted layer (--adapter); models go to torch');
        const checked = loadFile(file);
        const settings = parseSettings(o.dims);
        const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
        const identify = (c: CheckedProgram, a: string, s: Record<string, number | boolean>) => identifyMethod(c, a, s, methodReference);
        if (o.model) return done(await exportModel(say, checked, o.model, o.out, { settings, file, sha256, identify }, !!o.check));
        const adapter = o.adapter!;
        if (o.to === 'onnx') return done(await exportOnnx(say, checked, adapter, o.out, { settings, file, sha256, params: o.params as 'init' | 'random', seed: Number(o.seed) }, !!o.check));
        const ex = exportAdapterToTorch(checked, adapter, { settings, file, sha256, identify, backward: o.backward as 'compiled' | 'autograd' });
        let errors: Record<string, number> | undefined;
        await writeAtomically(o.out, ex.code, async (tmp) => {
          if (!o.check) return;
          const missing = torchMissing();
          if (missing) fail('E-usage', `--check needs Python with torch: ${missing}`);
          const full = { ...EXPORT_DEFAULTS, ...settings };
          const hypers = Object.fromEntries(Object.entries(settings).filter(([k]) => checked.units.get(adapter)!.decl.hypers.some((h) => h.name === k)));
          const magnitude = Object.values(ex.info.keys).some((k) => k.layout === 'magnitude');
          const [report] = await checkExports([{ module: tmp, checked, adapter, settings: full, hypers, adamwSteps: 3, weightDecay: magnitude ? 0 : 0.01, training: ex.info.trainDiffers }]);
          errors = report.errors;
          for (const [k, e] of Object.entries(report.errors)) say(`  ${k.padEnd(16)} max error ${e.toExponential(2)}`);
          if (!report.ok) fail('E-check', `the exported ${adapter} does not match the reference:\n${report.problems.join('\n')}`);
          say(`check: forward and every gradient match the float64 reference (≤ 1e-9)${ex.info.trainDiffers ? ' in evaluation and in training mode (the same random draws fed)' : ''}; 3 AdamW steps match our float32 runtime (≤ 1e-4)`);
        });
        const fixed = Object.keys(ex.info.fixed);
        say(`wrote ${o.out}: ${adapter} (${ex.info.peftType ? `PEFT ${ex.info.peftType} names` : 'Lily names'}; generic in ${ex.info.free.join(', ')}${fixed.length ? `; fixed ${fixed.join(', ')}` : ''}; ${ex.info.mergeable ? 'mergeable' : 'not mergeable'})`);
        return done({ adapter, peftType: ex.info.peftType ?? null, free: ex.info.free, fixed: ex.info.fixed, mergeable: ex.info.mergeable, backward: o.backward, check: errors ?? null });
      }),
    );
}

/** Write through a temporary file beside the target, renamed into place after `before` succeeds. */
async function writeAtomically(out: string, code: string | Uint8Array, before: (tmp: string) => Promise<void>) {
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp${out.endsWith('.onnx') ? '.onnx' : '.py'}`);
  try {
    writeFileSync(tmp, code);
  } catch (e) {
    fail('E-file', `cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    await before(tmp);
    renameSync(tmp, out);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* renamed into place */
    }
  }
}

async function exportModel(say: (t: string) => void, checked: CheckedProgram, model: string, out: string, opts: TorchExportOptions, check: boolean) {
  const ex = exportModelToTorch(checked, model, opts);
  let errors: Record<string, number> | undefined;
  await writeAtomically(out, ex.code, async (tmp) => {
    if (!check) return;
    const missing = torchMissing();
    if (missing) fail('E-usage', `--check needs Python with torch: ${missing}`);
    const [report] = await checkModelExports([{ module: tmp, checked, model, settings: { N: 8, ...opts.settings } }]);
    errors = report.errors;
    for (const [k, e] of Object.entries(report.errors)) say(`  ${k.padEnd(16)} max error ${e.toExponential(2)}`);
    if (!report.ok) fail('E-check', `the exported ${model} does not match the reference:\n${report.problems.join('\n')}`);
    say('check: forward and every gradient match the float64 reference (≤ 1e-9)');
  });
  say(`wrote ${out}: model ${model} (layers ${ex.info.layers.join(', ') || 'none'}; generic in ${ex.info.free.join(', ')})`);
  return { model, layers: ex.info.layers, free: ex.info.free, check: errors ?? null };
}

async function exportOnnx(say: (t: string) => void, checked: CheckedProgram, adapter: string, out: string, opts: OnnxExportOptions, check: boolean) {
  const ex = exportAdapterToOnnx(checked, adapter, opts);
  let error: number | undefined;
  await writeAtomically(out, ex.bytes, async (tmp) => {
    if (!check) return;
    const ort = await loadOrt();
    if (typeof ort === 'string') fail('E-usage', `--check needs ${ort}`);
    const r = await checkOnnx(ort, readFileSync(tmp), checked, adapter, { ...EXPORT_DEFAULTS, ...opts.settings }, { seed: opts.seed ?? 0, params: opts.params, rows: 5 });
    error = r.error;
    say(`  y (onnxruntime, ${r.rows} rows) max error ${r.error.toExponential(2)}`);
    if (!(r.error <= 1e-4)) fail('E-check', `the ONNX graph of ${adapter} does not match the reference: error ${r.error.toExponential(2)} > 1e-4 (float32)`);
    say('check: onnxruntime matches the float64 reference (≤ 1e-4, float32)');
  });
  say(`wrote ${out}: ${adapter} as ONNX (opset ${OPSET}, batch N dynamic; ${ex.merged ? 'merged into one weight' : 'base + adapter'}: ${ex.reason})`);
  return { adapter, opset: OPSET, merged: ex.merged, reason: ex.reason, check: error ?? null };
}
