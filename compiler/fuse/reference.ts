// The reference executor of a kernel plan, in float64: the oracle every renderer is tested against
// (and, through the IR evaluator, what checks the fusion pass itself).
import * as T from '../../runtime/tensor/index.ts';
import type { Affine, BufferId, Kernel, KernelPlan, KExpr } from './kernel-ir.ts';

const BIN: Record<string, (a: number, b: number) => number> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  pow: (a, b) => a ** b,
  max: (a, b) => Math.max(a, b),
};

function offset(at: Affine, env: Map<string, number>): number {
  let o = at.offset;
  for (const t of at.terms) o += t.c * env.get(t.v)!;
  return o;
}

export function evalKExpr(e: KExpr, env: Map<string, number>, bufs: Map<BufferId, Float64Array>, args: Record<string, number>): number {
  switch (e.k) {
    case 'load':
      return bufs.get(e.buf)![offset(e.at, env)];
    case 'const':
      return e.v;
    case 'arg':
      return args[e.name];
    case 'unary':
      return T.unary[e.fn].f(evalKExpr(e.a, env, bufs, args));
    case 'unaryGrad':
      return T.unary[e.fn].df(evalKExpr(e.a, env, bufs, args));
    case 'bin':
      return BIN[e.op](evalKExpr(e.a, env, bufs, args), evalKExpr(e.b, env, bufs, args));
    case 'reduce': {
      let acc = e.op === 'sum' ? 0 : -Infinity;
      const idx = e.vars.map(() => 0);
      const total = e.vars.reduce((p, v) => p * v.extent, 1);
      for (let n = 0; n < total; n++) {
        let r = n;
        for (let i = e.vars.length - 1; i >= 0; i--) {
          idx[i] = r % e.vars[i].extent;
          r = Math.floor(r / e.vars[i].extent);
          env.set(e.vars[i].v, idx[i]);
        }
        const v = evalKExpr(e.body, env, bufs, args);
        acc = e.op === 'sum' ? acc + v : Math.max(acc, v);
      }
      return acc;
    }
  }
}

export function runKernelReference(k: Kernel, bufs: Map<BufferId, Float64Array>, args: Record<string, number>): Float64Array {
  const total = k.loops.reduce((p, l) => p * l.extent, 1);
  const out = new Float64Array(total);
  const env = new Map<string, number>();
  for (let n = 0; n < total; n++) {
    let r = n;
    for (let i = k.loops.length - 1; i >= 0; i--) {
      env.set(k.loops[i].v, r % k.loops[i].extent);
      r = Math.floor(r / k.loops[i].extent);
    }
    out[n] = evalKExpr(k.body, env, bufs, args);
  }
  return out;
}

/** Run a whole plan; `feeds` gives every input and parameter by leaf name. */
export function runPlanReference(plan: KernelPlan, feeds: Map<string, T.Tensor>, args: Record<string, number> = {}): Map<string, T.Tensor> {
  const bufs = new Map<BufferId, Float64Array>();
  for (const [name, id] of plan.leaves) {
    const t = feeds.get(name);
    if (!t) throw new Error(`no value for ${name}`);
    bufs.set(id, t.data);
  }
  for (const k of plan.kernels) bufs.set(k.out, runKernelReference(k, bufs, args));
  const out = new Map<string, T.Tensor>();
  for (const [name, id] of plan.outputs) out.set(name, { shape: plan.buffers[id].shape, data: bufs.get(id)! });
  return out;
}
