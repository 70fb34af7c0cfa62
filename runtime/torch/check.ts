// `lily export --check` and the export tests: run exported modules with Python + torch on random
// values and compare with our float64 reference (the naive program: no rewrites, evaluated by each
// primitive's float64 rule — the same oracle `lily verify` ties to finite differences): the layer's
// output, every parameter gradient and the input gradient to 1e-9; then a few AdamW steps in float32
// against our compiled training step on the CPU backend. Node-only (spawns Python).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CHECK_HARNESS_PY } from './check-harness-py.ts';
import type { CheckedProgram } from '../../compiler/check/check.ts';
import { evaluateOutputs } from '../../compiler/ir/evaluate.ts';
import { compile } from '../../compiler/pipeline.ts';
import { cpuBackend } from '../backends/cpu-exec.ts';
import { rng } from '../init/rng.ts';
import { isStepRandomLeaf, stepRandom } from '../init/step-random.ts';
import * as T from '../tensor/index.ts';
import { compileTraining } from '../train.ts';

export const PYTHON = process.env.LILY_PYTHON ?? '/usr/bin/python3';

/** Why torch cannot run here, or undefined when it can. */
export function torchMissing(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (install Debian's python3-torch)`;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `${PYTHON} cannot import torch (apt-get install -y python3-torch)`;
}

export interface CheckCase {
  /** The exported module's path and the adapter class in it. */
  module: string;
  checked: CheckedProgram;
  adapter: string;
  /** Sizes and hyper-parameters (N, In, Out, r, …) to check at. */
  settings: Record<string, number | boolean>;
  /** Hyper-parameters passed to the Python constructor. */
  hypers: Record<string, number | boolean>;
  seed?: number;
  /** AdamW steps to compare with our float32 training step (0: none). */
  adamwSteps?: number;
  /** Weight decay for that comparison (DoRA: 0, PEFT decays m where we decay the offset dm). */
  weightDecay?: number;
  /** Also compare the training program (dropout, `training`), with the random draws fed identically. */
  training?: boolean;
}

/** The optimiser step the forward checks run at (programs reading `step`: a ramp part-way). */
const CHECK_STEP = 37;

export interface CheckReport {
  adapter: string;
  ok: boolean;
  /** Largest error, relative to max(1, |reference|), per compared quantity. */
  errors: Record<string, number>;
  problems: string[];
}

const F64_TOL = 1e-9;
const F32_TOL = 1e-4;
const ADAMW = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

interface Plain {
  shape: number[];
  data: number[];
}
const plain = (t: T.Tensor): Plain => ({ shape: [...t.shape], data: [...t.data] });

function maxRelErr(want: ArrayLike<number>, got: ArrayLike<number>): number {
  if (want.length !== got.length) return Infinity;
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(want[i] - got[i]) / Math.max(1, Math.abs(want[i])));
  return Number.isNaN(e) ? Infinity : e;
}

/** The reference values of one case, and what goes to Python. */
async function prepare(c: CheckCase) {
  const seed = c.seed ?? 1;
  const unit = c.checked.units.get(c.adapter)!;
  const delta = unit.methods.has('delta');
  // A parameter's IR leaf: `Adapter.name` when shared across the model (compiler/interp/instance.ts)
  const leafOf = new Map(unit.decl.members.flatMap((m) => (m.kind === 'param' ? [[m.name, m.sharing.kind === 'acrossModel' ? `${c.adapter}.${m.name}` : m.name] as const] : [])));
  const nameOf = new Map([...leafOf].map(([n, l]) => [l, n]));
  // y, dx and the parameter gradients of the naive program (evaluation or training mode)
  const reference = (training: boolean) => {
    const p = compile(c.checked, c.adapter, { settings: c.settings, seed, params: 'random', skip: ['simplify', 'simplify-2', 'contract'], training, step: CHECK_STEP });
    const out = evaluateOutputs(p.graph, p.leaves);
    const [x, W, b, dy] = ['x', 'base.W', 'base.b', 'dy'].map((k) => p.leaves.get(k)!);
    let y = out.get('y')!;
    let gx = out.get('grad:x')!;
    if (delta) {
      // The layer is x W + b + delta(x): add the base's share of y and of dx.
      y = T.add(T.add(T.einsum('ab,bc->ac', x, W), T.broadcastAxes(b, y.shape, [1])), y);
      gx = T.add(T.einsum('ac,bc->ab', dy, W), gx);
    }
    const grads = new Map<string, T.Tensor>();
    for (const [k, v] of out) if (k.startsWith('grad:') && k !== 'grad:x') grads.set(nameOf.get(k.slice(5)) ?? k.slice(5), v);
    const draws = Object.fromEntries([...p.leaves].filter(([k]) => isStepRandomLeaf(k)).map(([k, v]) => [k, plain(v)]));
    return { p, x, W, b, dy, y, gx, grads, draws };
  };
  const { p, x, W, b, dy, y, gx, grads, draws: evalDraws } = reference(false);
  const params: Record<string, Plain> = {};
  for (const [name, leaf] of leafOf) params[name] = plain(p.leaves.get(leaf)!);
  const trained = c.training ? reference(true) : undefined;
  // `from` initialisers: ours (float64, at instantiation) from a base weight and the other parameters' initial values
  const froms = unit.decl.members.filter((m) => m.kind === 'param' && m.init.from).map((m) => m.name);
  let initFrom: { job: unknown; want: Map<string, T.Tensor> } | undefined;
  if (froms.length) {
    const q = compile(c.checked, c.adapter, { settings: c.settings, seed, params: 'init', until: 'lower' });
    const others = Object.fromEntries(unit.decl.members.filter((m) => m.kind === 'param' && !m.init.from).map((m) => [m.name, plain(q.leaves.get(leafOf.get(m.name)!)!)]));
    initFrom = { job: { W: plain(q.leaves.get('base.W')!), b: plain(q.leaves.get('base.b')!), params: others }, want: new Map(froms.map((n) => [n, q.leaves.get(leafOf.get(n)!)!])) };
  }
  let adamw: { job: unknown; ours: Map<string, Float32Array> } | undefined;
  if (c.adamwSteps) {
    const wd = c.weightDecay ?? 0.01;
    const trainer = await compileTraining(c.checked, c.adapter, { dims: c.settings, seed, params: 'random', backend: cpuBackend(), optimizer: { kind: 'adamw', ...ADAMW, weightDecay: wd } });
    const r = rng(seed).fork('targets');
    const targets = Array.from({ length: c.adamwSteps }, () => T.tensor(y.shape, Float64Array.from({ length: y.data.length }, () => r.normal())));
    // The trainer's forward-pass draws at each step (runtime/train.ts: stepRandom(seed, step, name)), fed to torch alike
    const drawShapes = Object.entries(trained?.draws ?? evalDraws).map(([k, v]) => [k, v.shape] as const);
    const draws = targets.map((_, step) => Object.fromEntries(drawShapes.map(([k, shape]) => [k, plain(stepRandom(seed, step, k, shape))])));
    try {
      for (const t of targets) await trainer.step({ x: Float32Array.from(x.data), t: Float32Array.from(t.data) });
      adamw = { job: { lr: ADAMW.lr, betas: [ADAMW.beta1, ADAMW.beta2], eps: ADAMW.eps, weight_decay: wd, t: targets.map(plain), draws }, ours: new Map([...(await trainer.parameters())].map(([k, v]) => [nameOf.get(k) ?? k, v])) };
    } finally {
      trainer.dispose();
    }
  }
  const train = trained && { y: trained.y, gx: trained.gx, grads: trained.grads };
  const job = { module: c.module, adapter: c.adapter, hypers: c.hypers, In: W.shape[0], Out: W.shape[1], W: plain(W), b: plain(b), x: plain(x), dy: plain(dy), params, step: CHECK_STEP, draws: evalDraws, train: trained ? { draws: trained.draws } : null, init_from: initFrom?.job ?? null, adamw: adamw?.job ?? null };
  return { job, y, gx, grads, train, initFrom: initFrom?.want, adamw: adamw?.ours };
}

export interface ModelCase {
  module: string;
  checked: CheckedProgram;
  model: string;
  settings: Record<string, number | boolean>;
  seed?: number;
}

/** A whole exported model: y, dx and every parameter's gradient against the float64 reference. */
async function prepareModel(c: ModelCase) {
  const p = compile(c.checked, c.model, { settings: c.settings, seed: c.seed ?? 1, params: 'random', skip: ['simplify', 'simplify-2', 'contract'] });
  const out = evaluateOutputs(p.graph, p.leaves);
  const leaves: Record<string, Plain> = {};
  for (const [k, v] of p.leaves) if (k !== 'x' && k !== 'dy') leaves[k] = plain(v);
  const grads = new Map([...out].filter(([k]) => k.startsWith('grad:') && k !== 'grad:x').map(([k, v]) => [k.slice(5), v]));
  return { job: { module: c.module, model: c.model, leaves, x: plain(p.leaves.get('x')!), dy: plain(p.leaves.get('dy')!) }, y: out.get('y')!, gx: out.get('grad:x')!, grads };
}

export async function checkModelExports(cases: ModelCase[]): Promise<(CheckReport & { stateDict: string[] })[]> {
  const prepared = await Promise.all(cases.map(prepareModel));
  const results = runHarness(prepared.map((p) => p.job));
  return cases.map((c, i) => {
    const res = results[i];
    const want = prepared[i];
    const errors: Record<string, number> = {};
    const problems: string[] = [];
    if (res.error) return { adapter: c.model, ok: false, errors, problems: [`Python: ${res.error}\n${res.trace}`], stateDict: [] };
    compareForward(want, res, errors, problems, (name) => `torch trains ${name}, our program keeps it frozen`);
    return { adapter: c.model, ok: problems.length === 0, errors, problems, stateDict: res.state_dict as string[] };
  });
}

/** y, dx and every parameter gradient from Python against ours (float64 tolerance), into errors and problems. */
function compareForward(
  want: { y: T.Tensor; gx: T.Tensor; grads: Map<string, T.Tensor> },
  res: Record<string, unknown>,
  errors: Record<string, number>,
  problems: string[],
  extra: (name: string) => string,
  label = '',
) {
  const grads = res.grads as Record<string, Plain>;
  errors.y = maxRelErr(want.y.data, (res.y as Plain).data);
  errors['grad:x'] = maxRelErr(want.gx.data, (res.grad_x as Plain).data);
  for (const [name, g] of want.grads) errors[`grad:${name}`] = grads[name] ? maxRelErr(g.data, grads[name].data) : Infinity;
  for (const name of Object.keys(grads)) if (!want.grads.has(name)) problems.push(extra(name));
  for (const [k, e] of Object.entries(errors)) if (!(e <= F64_TOL)) problems.push(`${label}${k}: error ${e.toExponential(2)} > ${F64_TOL}`);
}

function runHarness(jobs: unknown[]): Record<string, unknown>[] {
  const r = spawnSync(PYTHON, ['-c', CHECK_HARNESS_PY], { input: JSON.stringify({ cases: jobs }), encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`the torch check could not run: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ')}`);
  return JSON.parse(r.stdout).results as Record<string, unknown>[];
}

/** Check every case in one Python process (torch's import costs seconds). */
export async function checkExports(cases: CheckCase[]): Promise<CheckReport[]> {
  const prepared: Awaited<ReturnType<typeof prepare>>[] = [];
  for (const c of cases) prepared.push(await prepare(c));
  const results = runHarness(prepared.map((p) => p.job));
  return cases.map((c, i) => {
    const res = results[i];
    const want = prepared[i];
    const errors: Record<string, number> = {};
    const problems: string[] = [];
    if (res.error) return { adapter: c.adapter, ok: false, errors, problems: [`Python: ${res.error}\n${res.trace}`] };
    compareForward(want, res, errors, problems, (name) => `torch has a gradient for ${name}, our reference does not`);
    if (want.train) {
      // Training mode (dropout on, `training` true), the draws fed identically: prefixed train:
      const t: Record<string, number> = {};
      if (!res.train) problems.push('the training-mode run is missing');
      else compareForward(want.train, res.train as Record<string, unknown>, t, problems, (name) => `torch has a training-mode gradient for ${name}, our reference does not`, 'train:');
      for (const [k, e] of Object.entries(t)) errors[`train:${k}`] = e;
    }
    if (want.initFrom) {
      const got = (res.init_from ?? {}) as Record<string, Plain>;
      for (const [name, v] of want.initFrom) {
        const e = got[name] ? maxRelErr(v.data, got[name].data) : Infinity;
        errors[`from:${name}`] = e;
        if (!(e <= F64_TOL)) problems.push(`the initial value of ${name} (from …) computed in torch differs from ours by ${e.toExponential(2)}`);
      }
    }
    if (res.init_ok !== true) problems.push(`initialisation: ${res.init_ok}`);
    const merge = res.merge as { mergeable: boolean; error?: number; restored?: boolean; refused?: string | null };
    if (merge.mergeable) {
      errors.merged = merge.error!;
      if (!(merge.error! <= F64_TOL)) problems.push(`merge(): the merged layer differs by ${merge.error!.toExponential(2)}`);
      if (!merge.restored) problems.push('unmerge() did not restore the base weight');
    } else if (!merge.refused) problems.push('merge() of a non-mergeable adapter did not refuse');
    if (want.adamw) {
      const theirs = res.adamw as Record<string, Plain>;
      for (const [name, v] of want.adamw) {
        const e = theirs?.[name] ? maxRelErr(v, theirs[name].data) : Infinity;
        errors[`adamw:${name}`] = e;
        if (!(e <= F32_TOL)) problems.push(`adamw:${name} after ${c.adamwSteps} steps: error ${e.toExponential(2)} > ${F32_TOL} (float32)`);
      }
    }
    return { adapter: c.adapter, ok: problems.length === 0, errors, problems };
  });
}
