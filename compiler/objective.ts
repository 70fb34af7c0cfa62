// Training objective: the adapted layer's output (frozen base + adapter), a loss, its gradients
// w.r.t. the trainable parameters, and the optimiser's update — all as IR, so the update is fused
// into kernels like everything else. Optimisers are records in a table.
import type { Graph, Id } from './ir/graph.ts';
import { scale, mulSame } from './ir/prims/elementwise.ts';
import { vjp } from './autodiff/vjp.ts';
import * as T from '../runtime/tensor/index.ts';
import { evalStepScalar, type StepScalar } from './step-scalars.ts';

export interface AdamWConfig {
  kind: 'adamw';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}
export interface SgdConfig {
  kind: 'sgd';
  lr: number;
}
export type OptimizerConfig = AdamWConfig | SgdConfig;

export interface Objective {
  /** mse: mean squared error against t; xent: softmax cross-entropy against one-hot (or soft) targets t, over the last axis. */
  loss: 'mse' | 'xent';
  optimizer: OptimizerConfig;
  /** Scale all gradients together so their global L2 norm is at most this (PyTorch's clip_grad_norm_). */
  clipGradNorm?: number;
  /** Also output 'grad_norm' (the global L2 norm of the gradients, before clipping). */
  gradNorm?: boolean;
  /** Learning-rate multipliers by parameter (LoRA+: B learns 16× faster); unlisted parameters get 1. */
  lrRatio?: (param: string) => number;
}

export const DEFAULT_ADAMW: AdamWConfig = { kind: 'adamw', lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/**
 * Scalar run-time inputs of an optimiser at step t (1-based), for a learning rate scaled by
 * `lrScale` (a schedule's factor at that step) and each parameter group's ratio.
 */
export type StepArgs = (t: number, lrScale?: number) => Record<string, number>;

interface OptimizerRule {
  /** State tensors per parameter (zero-initialised), by suffix. */
  state: string[];
  /** Scalars fed each step for a group learning at lr = base lr × schedule × ratio, as inputs 'arg:NAME@ratio' of shape []. */
  args: string[];
  /** Their formulas over the step t, in that order, given the group's learning rate as a formula. */
  scalars(lr: StepScalar): StepScalar[];
  /** Build the updates: returns new values of the parameter and each state. */
  update(g: Graph, p: Id, grad: Id, state: Record<string, Id>, arg: (name: string) => Id): { param: Id; state: Record<string, Id> };
}

const L = 'abcdefghijklmnopqrstuvwxyz';
const bscalar = (g: Graph, s: Id, like: Id) => {
  const shape = g.shape(like);
  return g.add('einsum', [s, g.add('fill', [], { value: 1, shape })], { spec: `,${L.slice(0, shape.length)}->${L.slice(0, shape.length)}` });
};

export const OPTIMIZERS: { adamw: (c: AdamWConfig) => OptimizerRule; sgd: (c: SgdConfig) => OptimizerRule } = {
  // PyTorch AdamW: p ← p·(1 − lr·wd) − lr_t · m / (√v + eps_t), with the bias corrections folded
  // into lr_t = lr·√(1−β2ᵗ)/(1−β1ᵗ) and eps_t = eps·√(1−β2ᵗ).
  adamw: (c) => ({
    state: ['m', 'v'],
    args: ['decay', 'lr_t', 'eps_t'],
    scalars: (lr) => [
      ['-', 1, ['*', lr, c.weightDecay]],
      ['/', ['*', lr, ['sqrt', ['-', 1, ['pow', c.beta2, 't']]]], ['-', 1, ['pow', c.beta1, 't']]],
      ['*', c.eps, ['sqrt', ['-', 1, ['pow', c.beta2, 't']]]],
    ],
    update(g, p, grad, s, arg) {
      const m = g.add('add', [scale(g, c.beta1, s.m), scale(g, 1 - c.beta1, grad)]);
      const v = g.add('add', [scale(g, c.beta2, s.v), scale(g, 1 - c.beta2, mulSame(g, grad, grad))]);
      const denom = g.add('add', [g.add('map', [v], { fn: 'sqrt' }), bscalar(g, arg('eps_t'), v)]);
      const stepv = mulSame(g, bscalar(g, arg('lr_t'), m), mulSame(g, m, g.add('map', [denom], { fn: 'recip' })));
      const param = g.add('add', [mulSame(g, bscalar(g, arg('decay'), p), p), scale(g, -1, stepv)]);
      return { param, state: { m, v } };
    },
  }),
  sgd: () => ({
    state: [],
    args: ['lr'],
    scalars: (lr) => [lr],
    update: (g, p, grad, _s, arg) => ({ param: g.add('add', [p, scale(g, -1, mulSame(g, bscalar(g, arg('lr'), grad), grad))]), state: {} }),
  }),
};

export interface ObjectiveResult {
  leaves: Map<string, T.Tensor>;
  inputs: string[];
  args: StepArgs;
  /** the names of args(step)'s entries, in the order argsInto writes their values */
  argNames: string[];
  /** their formulas over the step t and the schedule's factor (compiled to wasm by the CPU step) */
  argFormulas: StepScalar[];
  argsInto(step: number, lrScale: number, out: Float64Array): void;
  /** [output, leaf] pairs: after a step, each output becomes the leaf's new value. */
  assignments: [string, string][];
}

/**
 * Turn the lowered adapter graph (output 'y' = delta or forward) into a training step:
 * y_full = x W0 + b0 + delta (for delta adapters), loss = mean((y_full − t)²), gradients, updates.
 */
export function attachObjective(g: Graph, leaves: Map<string, T.Tensor>, form: 'delta' | 'forward', obj: Objective, declaredRatios: Map<string, number> = new Map()): ObjectiveResult {
  const out = new Map(leaves);
  let y = g.outputs.get('y')!;
  const x = g.add('input', [], { name: 'x', shape: out.get('x')!.shape });
  if (form === 'delta') {
    const W = out.get('base.W')!;
    const b = out.get('base.b')!;
    const w = g.add('param', [], { name: 'base.W', shape: W.shape, trainable: false });
    const bias = g.add('param', [], { name: 'base.b', shape: b.shape, trainable: false });
    const base = g.add('einsum', [x, w], { spec: 'ab,bc->ac' });
    const shape = g.shape(y);
    y = g.add('add', [g.add('add', [base, g.add('broadcast', [bias], { shape, map: [1] })]), y]);
  }
  const shape = g.shape(y);
  const tVal = T.zeros(shape);
  out.set('t', tVal);
  const t = g.add('input', [], { name: 't', shape });
  const l = L.slice(0, shape.length);
  const n = shape.reduce((a, c) => a * c, 1);
  let loss: Id;
  if (obj.loss === 'xent') {
    // −(1/rows) Σ t ⊙ log_softmax(y): the mean over rows of the cross-entropy.
    const rows = n / shape[shape.length - 1];
    const logp = g.add('log_softmax', [y], { axis: shape.length - 1 });
    loss = g.add('einsum', [t, logp, g.add('const', [], { value: -1 / rows })], { spec: `${l},${l},->` });
  } else {
    const d = g.add('add', [y, scale(g, -1, t)]);
    loss = g.add('einsum', [d, d, g.add('const', [], { value: 1 / n })], { spec: `${l},${l},->` });
  }
  g.outputs.clear();
  g.outputs.set('y', y);
  g.outputs.set('loss', loss);
  const params = g.live([loss]).filter((id) => g.node(id).op === 'param' && g.node(id).attrs.trainable);
  let grads = vjp(g, loss, g.add('const', [], { value: 1 }), params);
  if (obj.clipGradNorm !== undefined || obj.gradNorm) {
    const norm = globalNorm(g, grads);
    g.outputs.set('grad_norm', norm);
    if (obj.clipGradNorm !== undefined) grads = clip(g, grads, norm, obj.clipGradNorm);
  }
  const rule = obj.optimizer.kind === 'adamw' ? OPTIMIZERS.adamw(obj.optimizer) : OPTIMIZERS.sgd(obj.optimizer);
  // Parameters are grouped by learning-rate ratio; each group has its own scalar inputs ('arg:lr_t@16').
  // A ratio declared in the program (`lr * ratio`, LoRA+) times one given for the run (--lr-ratio).
  const ratioOf = (p: Id) => {
    const name = g.node(p).attrs.name as string;
    return (obj.lrRatio?.(name) ?? 1) * (declaredRatios.get(name) ?? 1);
  };
  const ratios = [...new Set(params.map(ratioOf))];
  const argNames = ratios.flatMap((ratio) => rule.args.map((k) => `arg:${k}@${ratio}`));
  // the group's learning rate: base lr × schedule × ratio, in that order
  const argFormulas = ratios.flatMap((ratio) => rule.scalars(['*', ['*', obj.optimizer.lr, 'scale'], ratio]));
  const argsInto = (t: number, lrScale: number, out: Float64Array) => {
    for (let i = 0; i < argFormulas.length; i++) out[i] = evalStepScalar(argFormulas[i]!, t, lrScale);
  };
  const args: StepArgs = (t, lrScale = 1) => {
    const v = new Float64Array(argNames.length);
    argsInto(t, lrScale, v);
    return Object.fromEntries(argNames.map((k, i) => [k, v[i]!]));
  };
  for (const [k, v] of Object.entries(args(1))) out.set(k, T.scalar(v));
  const assignments: [string, string][] = [];
  for (const p of params) {
    const name = g.node(p).attrs.name as string;
    const arg = (a: string) => g.add('input', [], { name: `arg:${a}@${ratioOf(p)}`, shape: [] });
    const state: Record<string, Id> = {};
    for (const s of rule.state) {
      out.set(`${s}:${name}`, T.zeros(g.shape(p)));
      state[s] = g.add('param', [], { name: `${s}:${name}`, shape: g.shape(p), trainable: false });
    }
    const u = rule.update(g, p, grads.get(p)!, state, arg);
    g.outputs.set(`grad:${name}`, grads.get(p)!);
    g.outputs.set(`new:${name}`, u.param);
    assignments.push([`new:${name}`, name]);
    for (const [s, id] of Object.entries(u.state)) {
      g.outputs.set(`new:${s}:${name}`, id);
      assignments.push([`new:${s}:${name}`, `${s}:${name}`]);
    }
  }
  return { leaves: out, inputs: ['x', 't', ...argNames], args, argNames, argFormulas, argsInto, assignments };
}

/** ‖g‖: the L2 norm of all gradients together. */
function globalNorm(g: Graph, grads: Map<Id, Id>): Id {
  const squares = [...grads.values()].map((d) => {
    const l = L.slice(0, g.shape(d).length);
    return g.add('einsum', [d, d], { spec: `${l},${l}->` });
  });
  return g.add('map', [squares.reduce((a, b) => g.add('add', [a, b]))], { fn: 'sqrt' });
}

/**
 * PyTorch's clip_grad_norm_: every gradient times min(1, c / (‖g‖ + 1e-6)). min(1, a) is written
 * 1 − relu(1 − a), so it fuses like any elementwise chain.
 */
function clip(g: Graph, grads: Map<Id, Id>, norm: Id, c: number): Map<Id, Id> {
  const one = () => g.add('const', [], { value: 1 });
  const ratio = scale(g, c, g.add('map', [g.add('add', [norm, g.add('const', [], { value: 1e-6 })])], { fn: 'recip' }));
  const factor = g.add('add', [one(), scale(g, -1, g.add('map', [g.add('add', [one(), scale(g, -1, ratio)])], { fn: 'relu' }))]);
  return new Map([...grads].map(([p, d]) => [p, mulSame(g, bscalar(g, factor, d), d)]));
}
