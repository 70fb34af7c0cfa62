// lily merge FILE --adapter NAME --dims …: can the adapter be folded into the frozen weight? If so,
// ΔW = f(I) − f(0) (and Δb = f(0)); otherwise the reason.
import type { Command } from 'commander';
import { mergeVerdict } from '../analysis/mergeable.ts';
import { loadFile } from '../frontend.ts';
import { fail } from '../diagnostics.ts';
import { largest, toNested } from '../../runtime/tensor/index.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { applyMemoryBudget, intFlag, MAX_MEMORY_HELP, parseSettings } from './options.ts';
import { addModelFlags, setupModel, type ModelFlags } from './model-setup.ts';
import { writeStateDict } from './save.ts';
import { layerSizes } from '../interp/instance.ts';
import type { Tensor } from '../../runtime/tensor/index.ts';

export function registerMerge(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  const cmd = program
    .command('merge')
    .description('decide whether an adapter merges into its frozen layer, and compute ΔW (= delta(I)) if so')
    .argument('<file>', '.lily file');
  addModelFlags(cmd, { model: 'merge the adapters attached to this model into its weights (merge_and_unload); write them with -o', adapter: 'adapter name (with --model and --target-modules: the adapter to attach)', peft: 'the adapter: a folder written by PEFT or lily train --save' })
    .option('-o, --out <file>', 'with --model: write the merged weights as a PyTorch state dict (.safetensors)')
    .option('--dims <list>', 'sizes and hyper-parameters, e.g. In=8,Out=8,r=2', '')
    .option('--seed <n>', 'seed for parameter values', '0')
    .option('--params <mode>', "parameter values ΔW is computed for: 'init' (each initialiser; an untrained LoRA gives ΔW = 0) or 'random'", 'init')
    .option('--step <n>', 'for adapters that read `step` (SingLoRA): the optimiser step to merge at')
    .option('--json', 'print the verdict and ΔW, Δb as JSON')
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .action(
      wrap((file: string, opts: ModelFlags & { adapter?: string; dims: string; seed: string; params: string; step?: string; json?: boolean; out?: string; maxMemory?: string }) => {
        applyMemoryBudget(opts.maxMemory);
        if (opts.params !== 'init' && opts.params !== 'random') fail('E-usage', `--params must be init or random, found '${opts.params}'`);
        const step = opts.step === undefined ? undefined : Number(opts.step);
        if (step !== undefined && !(Number.isInteger(step) && step >= 0)) fail('E-usage', `--step must be a whole number ≥ 0, found '${opts.step}'`);
        if (opts.model || opts.peft) return mergeModel(file, opts, io, step);
        if (!opts.adapter) fail('E-usage', 'name the adapter (--adapter NAME), or a model to merge its adapters into (--model NAME)');
        const checked = loadFile(file);
        const v = mergeVerdict(checked, opts.adapter!, parseSettings(opts.dims), intFlag('--seed', opts.seed), opts.params, undefined, step);
        if (opts.json) {
          io.out(JSON.stringify({ ok: v.mergeable, adapter: opts.adapter, mergeable: v.mergeable, reason: v.reason, deltaW: v.deltaW && toNested(v.deltaW), deltaB: v.deltaB && toNested(v.deltaB) }));
          return v.mergeable ? 0 : 1;
        }
        io.out(`${opts.adapter}: ${v.mergeable ? 'mergeable' : 'not mergeable'} — ${v.reason}`);
        if (v.deltaW) io.out(`ΔW: [${v.deltaW.shape.join(', ')}], max |ΔW| = ${largest(v.deltaW.data, true).toPrecision(4)}`);
        if (v.deltaB && v.deltaB.data.some((x) => x !== 0)) io.out(`Δb: [${v.deltaB.shape.join(', ')}]`);
        return v.mergeable ? 0 : 1;
      }),
    );
}

/**
 * Fold every adapted layer's adapter into its weights (PEFT's merge_and_unload): W' = W + ΔW,
 * b' = b + Δb with ΔW, Δb from the adapter's loaded values; refused, with the reason, for an
 * adapter that does not merge (e.g. Lily's data-dependent router).
 */
function mergeModel(file: string, opts: ModelFlags & { seed: string; json?: boolean; out?: string }, io: Io, step?: number): number {
  const setup = setupModel(file, opts);
  if (!opts.json) for (const n of setup.notes) io.err(n);
  if (!setup.record.adapted.length) fail('E-usage', `${setup.entry} has no adapters to merge (attach one with --target-modules, or load one with --peft)`);
  const merged = new Map<string, Tensor>();
  const layers: { layer: string; adapter: string; maxDeltaW: number }[] = [];
  for (const l of setup.record.adapted) {
    const [W, b] = [setup.value(`${l.layer}.W`), setup.value(`${l.layer}.b`)];
    const given = new Map<string, Tensor>([['base.W', W], ['base.b', b], ...[...l.params].map(([p, leaf]) => [p, setup.value(leaf)] as [string, Tensor])]);
    const settings = { ...l.settings, ...layerSizes(setup.checked, l.adapter, l.In, l.Out, l.layer) };
    const v = mergeVerdict(setup.checked, l.adapter, settings, intFlag('--seed', opts.seed), 'init', given, step);
    if (!v.mergeable) fail('E-merge', `${l.layer}: ${l.adapter} does not merge into the layer's weight: ${v.reason}`);
    merged.set(`${l.layer}.W`, add(W, v.deltaW!));
    merged.set(`${l.layer}.b`, add(b, v.deltaB!));
    layers.push({ layer: l.layer, adapter: l.adapter, maxDeltaW: largest(v.deltaW!.data, true) });
  }
  const written = opts.out ? writeStateDict(opts.out, setup.record.weights, (leaf) => merged.get(leaf) ?? setup.value(leaf)) : 0;
  if (opts.json) io.out(JSON.stringify({ model: setup.entry, mergeable: true, layers, ...(opts.out ? { written: opts.out, tensors: written } : {}) }));
  else {
    for (const l of layers) io.out(`${l.layer}: ${l.adapter} merged, max |ΔW| = ${l.maxDeltaW.toPrecision(4)}`);
    io.out(opts.out ? `wrote the merged weights (${written} tensors, PyTorch names) to ${opts.out}` : 'mergeable (write the merged weights with -o FILE.safetensors)');
  }
  return 0;
}

const add = (a: Tensor, b: Tensor): Tensor => ({ shape: a.shape, data: Float64Array.from(a.data, (v, i) => v + b.data[i]) });
