// lily run FILE …: evaluate a function, an adapter's delta/forward, or a model's forward with the
// reference interpreter (float64), on random or given inputs and parameters — including a model's
// PyTorch-named base weights (--base) and a PEFT adapter folder (--peft); --grad adds gradients.
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import { loadFile } from '../frontend.ts';
import { evaluateOutputs } from '../ir/evaluate.ts';
import { resultJson, runEntry } from '../interp/run.ts';
import { compile } from '../pipeline.ts';
import type { Action, Io, Wrapped } from './main.ts';
import { addModelFlags, setupModel, asUserError, type ModelFlags } from './model-setup.ts';
import { applyMemoryBudget, intFlag, MAX_MEMORY_HELP, parseInputs, parseSettings } from './options.ts';
import { guardMemory, INTERPRETER_FACTOR } from '../budget.ts';
import { encodeSafetensors } from '../../runtime/checkpoint/safetensors-codec.ts';
import { writeAtomic } from '../../runtime/peft/node.ts';
import { toNested, type Tensor } from '../../runtime/tensor/index.ts';

interface RunCliOptions extends ModelFlags {
  maxMemory?: string;
  fn?: string;
  inputs?: string;
  seed: string;
  params: string;
  json?: boolean;
  out?: string;
  grad?: string | boolean;
  training?: boolean;
  step: string;
}

export function registerRun(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  const cmd = program
    .command('run')
    .description('evaluate with the reference interpreter (float64): a fn, an adapter (delta or forward) or a model (forward), on random or given weights')
    .argument('<file>', '.lily file')
    .option('--fn <name>', 'function, adapter or model name (Adapter.method to pick a method)');
  addModelFlags(cmd, { model: 'the model to run (with --base, --peft, --target-modules)', adapter: 'the adapter to attach with --target-modules' })
    .option('--dims <list>', 'sizes and hyper-parameters, e.g. N=4,In=8,Out=8,r=2', '')
    .option('--inputs <list>', "inputs, ';'-separated: 'x=[[1,2],[3,4]]' (JSON) or 'x=inputs.safetensors' (.safetensors, .npy, .json)")
    .option('--seed <n>', 'seed for random inputs and parameters', '0')
    .option('--params <mode>', "parameters not given by a file: 'init' (each initialiser) or 'random' (N(0, 0.25))", 'init')
    .option('--training', 'run as in training: `training` is true, dropout and uniform[…]() draw for --step')
    .option('--step <n>', 'the value of `step` (optimiser steps taken before this one)', '0')
    .option('--out <file>', 'write the output (y) and any gradients to a safetensors file (float64)')
    .option('--grad [cotangent]', "also compute gradients of ⟨y, dy⟩ for every trainable parameter and input; dy = ones, or 'dy=FILE|JSON'")
    .option('--json', 'print inputs (when drawn at random) and outputs as JSON')
    .option('--max-memory <size>', MAX_MEMORY_HELP)
    .addHelpText('after', '\nExamples:\n  lily run examples/peft/mlp.lily --model MLP --base base.safetensors --peft adapter --inputs x=inputs.safetensors --json\n  lily run stdlib/adapters/lily.lily --fn Lily --dims N=4,In=8,Out=8,r=2,E=2 --params random')
    .action(
      wrap((file: string, o: RunCliOptions) => {
        if (o.params !== 'init' && o.params !== 'random') fail('E-usage', `--params must be init or random, found '${o.params}'`);
        const seed = intFlag('--seed', o.seed);
        applyMemoryBudget(o.maxMemory);
        const step = Number(o.step);
        if (!(Number.isInteger(step) && step >= 0)) fail('E-usage', `--step must be a whole number ≥ 0, found '${o.step}'`);
        const modelMode = !!(o.model || o.base || o.peft || o.targetModules || o.adapter);
        if (!o.fn && !modelMode) fail('E-usage', 'name what to run: --fn NAME, or --model NAME');
        const setup = modelMode ? setupModel(file, { ...o, model: o.model ?? o.fn }) : undefined;
        const checked = setup?.checked ?? loadFile(file);
        const entry = setup?.entry ?? o.fn!;
        const settings = setup?.settings ?? parseSettings(o.dims);
        const inputs = parseInputs(o.inputs);
        const params = o.params as 'init' | 'random';
        if (setup && !o.json) for (const n of setup.notes) io.err(n);
        guardMemory(`running ${entry}`, checked, entry, settings, INTERPRETER_FACTOR, { attach: setup?.attach, inputs });
        const result = runEntry(checked, entry, { settings, inputs, seed, params, given: setup?.given, attach: setup?.attach, mode: { training: o.training ?? false, step } });
        const outputs = new Map<string, Tensor>();
        if (result.output.kind === 'tensor') outputs.set('y', result.output.t as Tensor);
        if (o.grad !== undefined) {
          if (result.output.kind !== 'tensor') fail('E-usage', `--grad: ${entry} does not return a tensor`);
          const prog = compile(checked, entry, { settings, seed, params, given: setup?.given, attach: setup?.attach, inputs: result.inputs, training: o.training ?? false, step });
          const leaves = new Map(prog.leaves);
          for (const [k, t] of result.inputs) leaves.set(k, t);
          const y = outputs.get('y')!;
          const dy = typeof o.grad === 'string' ? parseInputs(o.grad, '--grad').get('dy') ?? fail('E-usage', "--grad takes the cotangent as 'dy=FILE' or 'dy=[…]'") : { shape: y.shape, data: new Float64Array(y.data.length).fill(1) };
          if (dy.shape.join() !== y.shape.join()) fail('E-shape', `--grad: dy has shape [${dy.shape}] but y has [${y.shape}]`);
          leaves.set('dy', dy);
          for (const [k, t] of evaluateOutputs(prog.graph, leaves)) if (k.startsWith('grad:')) outputs.set(k, t);
        }
        if (o.out) {
          const tensors = new Map([...outputs].map(([k, t]) => [k, { shape: t.shape, data: Float64Array.from(t.data) }]));
          asUserError(() => writeAtomic(o.out!, encodeSafetensors(tensors, { format: 'pt' })));
        }
        const drawn = [...result.inputs].filter(([k]) => !inputs.has(k));
        if (o.json) {
          io.out(JSON.stringify({ entry, inputs: Object.fromEntries(drawn.map(([k, t]) => [k, toNested(t)])), output: resultJson(result.output), ...(o.grad !== undefined ? { gradients: Object.fromEntries([...outputs].filter(([k]) => k !== 'y').map(([k, t]) => [k.slice(5), toNested(t)])) } : {}), ...(o.out ? { written: o.out } : {}) }));
        } else {
          for (const [k, t] of drawn) io.out(`${k}: [${t.shape.join(', ')}] ${format(toNested(t))}`);
          const out = result.output;
          io.out(out.kind === 'tensor' ? `=> [${(out.t as Tensor).shape.join(', ')}] ${format(resultJson(out))}` : `=> ${out.v}`);
          for (const [k, t] of outputs) if (k !== 'y') io.out(`${k}: [${t.shape.join(', ')}] ${format(toNested(t))}`);
          if (o.out) io.err(`wrote ${[...outputs.keys()].join(', ')} to ${o.out}`);
        }
        return 0;
      }),
    );
}

const format = (x: unknown): string => JSON.stringify(x, (_k, v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v));
