// `lily compile --explain`: what the compiler did to an adapter and why — FLOPs before and after
// for forward and backward, each contraction-order decision (the expert-sum fold among them, or its
// refusal with the reason), trainable parameters, and whether the adapter can be merged.
import type { CheckedProgram } from './check/check.ts';
import { mergeVerdict } from './analysis/mergeable.ts';
import { countParams } from './params.ts';
import { LilyError } from './diagnostics.ts';
import { CONSTRAINT_NOTE } from './interp/instance.ts';
import { compile, flopsSplit, STAGE_NAMES } from './pipeline.ts';
import type { RewriteLog } from './rewrite/engine.ts';
import type { FoldReport } from './rewrite/explain-net.ts';
import { planKernels } from './fuse/fuse.ts';
import type { KernelPlan } from './fuse/kernel-ir.ts';

export interface Explanation {
  adapter: string;
  dims: Record<string, number | boolean>;
  stages: string[];
  flops: {
    /** rewritten: the forward sums of products the optimiser reordered, alone (what the Lily paper's A.2 counts). */
    forward: { naive: number; optimized: number; rewritten: { naive: number; optimized: number } };
    backward: { naive: number; optimized: number };
  };
  rewrites: {
    rule: string;
    location?: string;
    applied: boolean;
    net: string;
    order: string;
    flops: { before: number; after: number };
    folds: FoldReport[];
    program: 'forward' | 'backward';
  }[];
  params: number;
  /** Values the hoist stage computes once at load instead of every step (FLOPs each would cost per step). */
  hoisted: { name: string; shape: number[]; flops: number; location?: string }[];
  /** Learning-rate ratios declared with `lr * ratio` (LoRA+), by parameter path. */
  lrScale: Record<string, number>;
  mergeable: boolean;
  mergeReason: string;
  kernels: {
    count: number;
    naiveCount: number;
    bytesMoved: number;
    naiveBytesMoved: number;
    /** Memory for temporaries after liveness-based reuse, vs one buffer per temporary (bytes). */
    tempBytes: number;
    tempBytesWithoutReuse: number;
    list: { name: string; kind: string; out: string; inputs: string[]; flops: number; bytes: number }[];
  };
}

function kernelSummary(plan: KernelPlan) {
  const label = (b: number) => {
    const info = plan.buffers[b];
    return `${info.name ?? `t${b}`}[${info.shape.join(',')}]`;
  };
  const temps = plan.buffers.filter((b) => b.kind === 'temp');
  return {
    bytesMoved: plan.kernels.reduce((a, k) => a + k.bytes, 0),
    tempBytes: 4 * plan.slotSizes.reduce((a, b) => a + b, 0),
    tempBytesWithoutReuse: 4 * temps.reduce((a, b) => a + b.size, 0),
    list: plan.kernels.map((k) => ({ name: k.name, kind: k.kind, out: label(k.out), inputs: k.inputs.map(label), flops: k.flops, bytes: k.bytes })),
  };
}

/**
 * What the compiler does to an adapter at given sizes: FLOPs naive vs optimised (forward, backward,
 * and the rewritten sums of products alone), each rewrite with its source location and reason
 * (applied or refused), the kernel plan, the parameter count and whether it merges into W0.
 */
export function explain(checked: CheckedProgram, adapter: string, dims: Record<string, number | boolean>, seed = 0): Explanation {
  // Shape-only leaves: FLOPs and plans need shapes, not In·Out values (16384² would be 2 GiB each).
  const naive = compile(checked, adapter, { settings: dims, seed, skip: ['contract'], params: 'shapes' });
  const opt = compile(checked, adapter, { settings: dims, seed, params: 'shapes' });
  const fn = flopsSplit(naive.graph);
  const fo = flopsSplit(opt.graph);
  const unit = checked.units.get(adapter);
  const verdict =
    unit?.decl.kind === 'adapter'
      ? smallMergeVerdict(checked, adapter, dims, seed)
      : { mergeable: false, reason: `${adapter} is a ${unit ? 'model' : 'function'}, not an adapter: there is no frozen layer to merge into` };
  const rewrites = opt.log
    .filter((l: RewriteLog) => l.applied || (l.forward && (l.folds as FoldReport[]).length))
    .map((l) => ({
      rule: (l.folds as FoldReport[]).some((f) => f.applied) ? 'expert-sum-fold (contraction order)' : l.rule,
      location: l.loc ? `${l.loc.file}:${l.loc.line}:${l.loc.col}` : undefined,
      applied: l.applied as boolean,
      net: l.net as string,
      order: l.order as string,
      flops: { before: l.flopsBefore as number, after: l.flopsAfter as number },
      folds: (l.folds as FoldReport[]).filter((f) => f.applied || l.forward),
      program: (l.forward ? 'forward' : 'backward') as 'forward' | 'backward',
    }));
  const planOpt = planKernels(opt.graph);
  const planNaive = planKernels(naive.graph);
  const ks = kernelSummary(planOpt);
  return {
    adapter,
    dims,
    stages: STAGE_NAMES,
    flops: {
      forward: { naive: fn.forward, optimized: fo.forward, rewritten: rewrittenFlops(rewrites, 'forward') },
      backward: { naive: fn.backward, optimized: fo.backward },
    },
    rewrites,
    params: unit ? countParams(checked, unit, dims, 1).trainable : 0,
    hoisted: (opt.hoisted ?? []).map((h) => ({ name: h.name, shape: h.shape, flops: h.flops, location: h.loc ? `${h.loc.file}:${h.loc.line}:${h.loc.col}` : undefined })),
    lrScale: Object.fromEntries(opt.lrScale),
    mergeable: verdict.mergeable,
    mergeReason: verdict.reason,
    kernels: { count: planOpt.kernels.length, naiveCount: planNaive.kernels.length, naiveBytesMoved: kernelSummary(planNaive).bytesMoved, ...ks },
  };
}

/**
 * FLOPs of just the forward sums of products the optimiser reordered (the Lily paper's A.2 counts
 * these). Forward only: there each inlined value had one use, so "as written" is not double counted.
 */
function rewrittenFlops(rewrites: Explanation['rewrites'], program: 'forward') {
  const mine = rewrites.filter((r) => r.program === program && r.applied);
  return { naive: mine.reduce((a, r) => a + r.flops.before, 0), optimized: mine.reduce((a, r) => a + r.flops.after, 0) };
}

/**
 * Merge analysis evaluates at small sizes (the verdict does not depend on them) — but sizes the
 * program accepts: clamping to a cap can break divisibility (In / n), so caps are tried in turn, each
 * dividing the next, and the user's own sizes last.
 */
function smallMergeVerdict(checked: CheckedProgram, adapter: string, dims: Record<string, number | boolean>, seed: number) {
  let last: unknown;
  for (const cap of [6, 12, 24, 48, 96, Number.POSITIVE_INFINITY]) {
    const small: Record<string, number | boolean> = {};
    for (const [k, v] of Object.entries(dims)) small[k] = typeof v === 'number' ? (v <= cap ? v : cap) : v;
    try {
      return mergeVerdict(checked, adapter, small, seed);
    } catch (e) {
      // A size that does not divide, or a `where r <= In` the cap broke: try the next cap.
      if (!(e instanceof LilyError) || !e.diagnostics.some((d) => d.code === 'E-size' || d.notes?.includes(CONSTRAINT_NOTE))) throw e;
      last = e;
    }
  }
  throw last;
}

const g = (n: number) => (n >= 1e8 ? `${(n / 1e9).toFixed(4)} GFLOP` : n >= 1e5 ? `${(n / 1e6).toFixed(3)} MFLOP` : `${n} FLOP`);

export function formatExplanation(e: Explanation): string {
  const lines = [`adapter ${e.adapter} at ${Object.entries(e.dims).map(([k, v]) => `${k}=${v}`).join(', ')}`];
  lines.push(`stages: ${e.stages.join(' → ')}`);
  for (const part of ['forward', 'backward'] as const) {
    const f = e.flops[part];
    const rw = 'rewritten' in f && f.rewritten.naive ? `; the rewritten sums of products alone: ${g(f.rewritten.naive)} → ${g(f.rewritten.optimized)}` : '';
    lines.push(`${`${part}:`.padEnd(9)} ${g(f.naive)} naive → ${g(f.optimized)} optimised (${(f.naive / Math.max(1, f.optimized)).toFixed(2)}×)${rw}`);
  }
  lines.push(`rewrites:`);
  if (!e.rewrites.length) lines.push('  (none: the program as written is already the cheapest order)');
  for (const r of e.rewrites) {
    lines.push(`  ${r.location ?? '?'} (${r.program}): ${r.rule}${r.applied ? '' : ' — not applied'}`);
    lines.push(`    ${r.net}`);
    lines.push(`    order ${r.order}: ${g(r.flops.before)} → ${g(r.flops.after)}`);
    for (const f of r.folds) lines.push(`    ${f.applied ? 'folded' : 'refused'} expert sum over ${f.bank}: ${f.reason}`);
  }
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  lines.push(`kernels (forward + backward): ${e.kernels.count} fused (naive program: ${e.kernels.naiveCount}); bytes moved ${mb(e.kernels.bytesMoved)} (naive ${mb(e.kernels.naiveBytesMoved)}); temporaries ${mb(e.kernels.tempBytes)} after reuse (${mb(e.kernels.tempBytesWithoutReuse)} without)`);
  for (const k of e.kernels.list) lines.push(`  ${k.name.padEnd(26)} ${k.kind.padEnd(11)} ${k.out.padEnd(22)} ← ${k.inputs.join(', ')}  ${k.flops.toLocaleString('en-US')} flop, ${mb(k.bytes)}`);
  if (e.hoisted.length)
    lines.push(`computed once at load (hoisted): ${e.hoisted.map((h) => `${h.location ?? h.name} [${h.shape}]`).join(', ')} — ${g(e.hoisted.reduce((a, h) => a + h.flops, 0))} per step saved`);
  lines.push(`trainable parameters (one layer): ${e.params.toLocaleString('en-US')}`);
  const ratios = Object.entries(e.lrScale);
  if (ratios.length) lines.push(`learning-rate ratios (lr * ratio): ${ratios.map(([k, v]) => `${k} × ${v}`).join(', ')}`);
  lines.push(`mergeable: ${e.mergeable ? 'yes' : 'no'} — ${e.mergeReason}`);
  return lines.join('\n');
}
