// `lily verify`: property tests (fast-check, shrinking, fixed seed) that the optimised program
// computes what the naive math says, on random dimensions and values:
//   forward   — the optimised forward equals the reference interpreter (float64);
//   backward  — the optimised gradients equal the unoptimised program's gradients;
//   gradient  — the unoptimised gradients equal central finite differences of the interpreter.
import fc from 'fast-check';
import type { CheckedProgram, UnitInfo } from './check/check.ts';
import { dimSymbols } from './check/dims.ts';
import { dimOfLoose } from './check/expr.ts';
import type * as A from './syntax/ast.ts';
import { LilyError } from './diagnostics.ts';
import { evaluateGraph, evaluateOutputs } from './ir/evaluate.ts';
import { runEntry } from './interp/run.ts';
import { compile, type Program } from './pipeline.ts';
import * as T from '../runtime/tensor/index.ts';
import { DimError } from './check/dims.ts';
import { CONSTRAINT_NOTE } from './interp/instance.ts';

export interface VerifyOptions {
  runs?: number;
  seed?: number;
  /** Largest size tried for any dimension. */
  maxDim?: number;
  /** Fixed settings (hyper-parameters or sizes) that are not randomised. */
  fixed?: Record<string, number | boolean>;
  rtol?: number;
  /** Deliberately wrong rules to inject (see compiler/rewrite/faults.ts). */
  faults?: string[];
  /** Check the program as compiled for training (default: both modes when it reads `training`, `step` or draws random numbers). */
  training?: boolean;
  /** Called after each random case (progress, e.g. the playground's verify panel). */
  onCase?: (done: number, runs: number) => void;
}

export interface VerifyFailure {
  property: 'forward' | 'backward' | 'gradient' | 'finite';
  dims: Record<string, number | boolean>;
  valueSeed: number;
  detail: string;
}

export interface VerifyResult {
  adapter: string;
  ok: boolean;
  runs: number;
  seed: number;
  failure?: VerifyFailure;
}

/** The dimension names an adapter (or model) is generic over: hyper Dims, layer dims, input dims. */
export function dimNames(unit: UnitInfo): string[] {
  const names = new Set<string>();
  for (const h of unit.decl.hypers) if (h.hyper === 'Dim') names.add(h.name);
  if (unit.decl.kind === 'adapter') for (const d of unit.decl.on.dims) for (const s of dimSymbols(dimOfLoose(d))) names.add(s);
  for (const m of unit.methods.values()) for (const s of paramDims(m.params)) names.add(s);
  return [...names];
}

function paramDims(params: readonly A.ValueParam[]): string[] {
  return params.flatMap((p) => (p.type.kind === 'tensorType' ? p.type.dims.flatMap((d) => dimSymbols(dimOfLoose(d))) : []));
}

/** The dimension names of an entry point: an adapter's or model's (above), or a function's arguments'. */
export function entryDimNames(checked: CheckedProgram, name: string): string[] {
  const unit = checked.units.get(name);
  return unit ? dimNames(unit) : [...new Set(paramDims(checked.fns.get(name)?.params ?? []))];
}

/**
 * What verify can check in a file: every adapter, model and function, each with its own random
 * sizes — except an entry with a scalar argument not fixed by --dims (verify draws sizes, not
 * arbitrary numbers), which is reported with the reason instead.
 */
export function verifiableEntries(checked: CheckedProgram, fixed: Record<string, number | boolean> = {}): { name: string; kind: string; skip?: string }[] {
  const entries = [...[...checked.units.values()].map((u) => ({ name: u.decl.name, kind: u.decl.kind as string })), ...[...checked.fns.keys()].map((name) => ({ name, kind: 'function' }))];
  return entries.map((e) => {
    const why = unverifiable(checked, e.name, fixed);
    return why ? { ...e, skip: why } : e;
  });
}

/** Why an entry cannot be verified as it stands (undefined: it can be). */
export function unverifiable(checked: CheckedProgram, name: string, fixed: Record<string, number | boolean> = {}): string | undefined {
  const unit = checked.units.get(name);
  const params = unit ? unit.methods.get(unit.methods.has('delta') ? 'delta' : 'forward')?.params : checked.fns.get(name)?.params;
  if (!params) return unit ? `${unit.decl.kind} ${name} has neither delta nor forward` : undefined;
  const scalars = params.filter((p) => p.type.kind !== 'tensorType' && !(p.name in fixed)).map((p) => p.name);
  if (scalars.length) return `its scalar argument${scalars.length > 1 ? 's' : ''} ${scalars.map((s) => `'${s}'`).join(', ')} need${scalars.length > 1 ? '' : 's'} a value: give ${scalars.map((s) => `${s}=…`).join(',')} with --dims`;
  return undefined;
}

class PropertyFailure extends Error {
  constructor(readonly failure: Omit<VerifyFailure, 'dims' | 'valueSeed'>) {
    super(failure.detail);
  }
}

function compare(what: VerifyFailure['property'], name: string, got: T.Tensor, want: T.Tensor, rtol: number, atol: number) {
  const c = T.allClose(got, want, { rtol, atol });
  if (!c.ok) {
    const i = c.index ?? [];
    const flat = i.reduce((acc, v, k) => acc * got.shape[k] + v, 0);
    throw new PropertyFailure({ property: what, detail: `${name}[${i.join(', ')}]: got ${got.data[flat]}, expected ${want.data[flat]} (max relative error ${c.maxRel.toExponential(2)})` });
  }
}

function requireFinite(name: string, t: T.Tensor) {
  const i = t.data.findIndex((v) => !Number.isFinite(v));
  if (i >= 0)
    throw new PropertyFailure({ property: 'finite', detail: `${name.replace(/^grad:/, 'the gradient of ')} is ${t.data[i]} at flat index ${i} (of ${t.data.length}): the adapter does not compute finite values at these sizes and values` });
}

/** One check of all three properties at given sizes and value seed. */
export function checkOnce(checked: CheckedProgram, adapter: string, settings: Record<string, number | boolean>, valueSeed: number, rtol = 1e-7, faults?: string[], training = false): void {
  // In training, random draws are inputs fixed by (seed, step): the same numbers in every program.
  // Gradients in every argument: a function's are all inputs, an adapter's or model's just x.
  const naive = compile(checked, adapter, { settings, seed: valueSeed, skip: ['contract'], training, gradInputs: true });
  const opt = compile(checked, adapter, { settings, seed: valueSeed, faults, training, gradInputs: true });
  const leaves = naive.leaves;
  const outNaive = evaluateOutputs(naive.graph, leaves);
  const outOpt = evaluateOutputs(opt.graph, opt.leaves);
  const argNames = new Set(naive.inputs.filter((k) => k !== 'dy'));
  const params = new Map([...leaves].filter(([k]) => !argNames.has(k) && k !== 'dy' && k !== 'step' && !k.startsWith('rand:')));
  const args = new Map([...leaves].filter(([k]) => argNames.has(k)));
  const out = runEntry(checked, adapter, { settings, inputs: args, given: params, seed: valueSeed, mode: { training } }).output;
  if (out.kind !== 'tensor') throw new Error(`internal: ${adapter}'s output is not a tensor`);
  const want = out.t as T.Tensor;
  // NaN equals NaN to the comparison below; an adapter computing NaN or ±∞ is still wrong.
  requireFinite('y', want);
  for (const [k, v] of outNaive) if (k !== 'y') requireFinite(k, v);
  try {
    compare('forward', 'y', outOpt.get('y')!, want, rtol, 1e-10);
    for (const [k, v] of outNaive) if (k !== 'y') compare('backward', k, outOpt.get(k)!, v, rtol, 1e-10);
    gradientCheck(naive, outNaive, valueSeed);
  } catch (e) {
    if (training && e instanceof PropertyFailure) (e.failure as { detail: string }).detail = `compiled for training: ${e.failure.detail}`;
    throw e;
  }
}

/**
 * Central differences of ⟨y, dy⟩ on the unoptimised forward graph (itself checked against the
 * interpreter above), with stop-gradient values frozen at the base point — so `detach` means the
 * same thing to the finite differences as to autodiff.
 */
function gradientCheck(naive: Program, out: Map<string, T.Tensor>, seed: number) {
  const g = naive.graph;
  const y = g.outputs.get('y')!;
  const fwd = g.live([y]);
  const base = evaluateGraph(g, naive.leaves, [y]);
  const frozen = new Map(fwd.filter((id) => g.node(id).op === 'stopgrad').map((id) => [id, base.get(id)!]));
  const dy = naive.leaves.get('dy')!;
  const loss = (leaves: Map<string, T.Tensor>) => {
    const v = evaluateGraph(g, leaves, [y], frozen).get(y)!;
    let s = 0;
    for (let i = 0; i < v.data.length; i++) s += v.data[i] * dy.data[i];
    return s;
  };
  let pick = seed;
  for (const [key, grad] of out) {
    if (!key.startsWith('grad:')) continue;
    const name = key.slice(5);
    const at0 = naive.leaves.get(name);
    if (!at0) continue;
    // A few entries per tensor, in float64.
    for (let t = 0; t < Math.min(3, at0.data.length); t++) {
      pick = (pick * 1103515245 + 12345) >>> 0;
      const j = pick % at0.data.length;
      const h = 1e-6 * Math.max(1, Math.abs(at0.data[j]));
      const at = (delta: number) => {
        const v = T.tensor(at0.shape, at0.data);
        v.data[j] += delta;
        return loss(new Map(naive.leaves).set(name, v));
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      const ad = grad.data[j];
      const scale = Math.max(1, Math.abs(fd), Math.abs(ad));
      if (Math.abs(fd - ad) > 1e-5 * scale)
        throw new PropertyFailure({ property: 'gradient', detail: `d⟨y, dy⟩/d ${name}[flat index ${j}]: autodiff ${ad}, finite differences ${fd}` });
    }
  }
}

/**
 * Property-test an adapter with fast-check (random sizes and values, fixed seed, shrinking):
 * optimised forward = reference interpreter, optimised gradients = naive gradients, and gradients =
 * finite differences. Resolves to `ok`, or to the shrunk counterexample in `failure`.
 */
export function verifyAdapter(checked: CheckedProgram, adapter: string, opts: VerifyOptions = {}): VerifyResult {
  const unit = checked.units.get(adapter);
  if (!unit && !checked.fns.has(adapter)) throw new LilyError([{ code: 'E-name', message: `no adapter, model or function named '${adapter}'` }]);
  const why = unverifiable(checked, adapter, opts.fixed);
  if (why) throw new LilyError([{ code: 'E-usage', message: `cannot verify ${adapter}: ${why}` }]);
  const runs = opts.runs ?? 20;
  const seed = opts.seed ?? 42;
  // Int hyper-parameters that `where` conditions relate to sizes (k <= r) are explored with them.
  const related = unit ? unit.decl.hypers.filter((h) => h.hyper === 'Int' && unit.decl.constraints.some((c) => mentions(c, h.name))).map((h) => h.name) : [];
  const names = [...entryDimNames(checked, adapter), ...related].filter((n) => !(n in (opts.fixed ?? {})));
  const modes = opts.training !== undefined ? [opts.training] : checked.readsMode ? [false, true] : [false];
  const dimArb = fc.record(Object.fromEntries(names.map((n) => [n, fc.integer({ min: 1, max: opts.maxDim ?? 4 })])));
  let failure: VerifyFailure | undefined;
  let cases = 0;
  const result = fc.check(
    fc.property(dimArb, fc.integer({ min: 0, max: 1_000_000 }), (dims, valueSeed) => {
      const settings = { ...dims, ...opts.fixed };
      try {
        for (const training of modes) checkOnce(checked, adapter, settings, valueSeed, opts.rtol, opts.faults, training);
        opts.onCase?.(++cases, runs);
        return true;
      } catch (e) {
        // Sizes the program's dimension arithmetic rejects (In / f not whole) are skipped.
        const unmet = e instanceof LilyError && e.diagnostics.some((d) => d.notes?.includes(CONSTRAINT_NOTE));
        if (e instanceof DimError || unmet || (e instanceof LilyError && /whole number|at least 1/.test(e.message))) {
          fc.pre(false);
        }
        if (e instanceof PropertyFailure) {
          failure = { ...e.failure, dims: settings, valueSeed };
          return false;
        }
        throw e;
      }
    }),
    { numRuns: runs, seed, endOnFailure: false },
  );
  if (!result.failed) return { adapter, ok: true, runs: result.numRuns, seed };
  if (!failure && result.errorInstance) throw result.errorInstance;
  if (!result.counterexample)
    throw new LilyError([{ code: 'E-usage', message: `${adapter}: no random sizes up to ${opts.maxDim ?? 4} met its conditions (${result.numSkips} tried); give sizes with --dims or a larger --max-dim` }]);
  // fast-check has shrunk: re-run the shrunk counterexample to report it exactly.
  const [dims, valueSeed] = result.counterexample as [Record<string, number>, number];
  try {
    for (const training of modes) checkOnce(checked, adapter, { ...dims, ...opts.fixed }, valueSeed, opts.rtol, opts.faults, training);
  } catch (e) {
    if (e instanceof PropertyFailure) failure = { ...e.failure, dims: { ...dims, ...opts.fixed }, valueSeed };
  }
  return { adapter, ok: false, runs: result.numRuns, seed, failure };
}

/** Whether an expression mentions a name (a `where` condition and a hyper-parameter). */
function mentions(e: unknown, name: string): boolean {
  if (!e || typeof e !== 'object') return false;
  if ((e as { kind?: string }).kind === 'var' && (e as { name: string }).name === name) return true;
  return Object.values(e).some((v) => mentions(v, name));
}
