// The gpu.js renderer's bookkeeping (see gpujs.ts): scopes that bind IR variables to JS locals and
// memoise shared values, and the per-kernel context that names parameters and checks buffer bounds.
import type { BufferId, Kernel, KernelPlan } from '../fuse/kernel-ir.ts';

/** Flat offsets into a buffer must stay below this (i32 index math). */
export const GPUJS_MAX_OFFSET = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------------
// Scopes: the root (binding the output coordinates) and one per reduce loop nest.

export class Scope {
  readonly lines: string[] = [];
  indent: string;
  /** IR variable -> JS local bound by this scope, and its extent */
  readonly vars = new Map<string, { js: string; extent: number }>();
  /** structural key -> JS local holding that value, emitted in this scope */
  readonly memo = new Map<string, string>();
  constructor(
    readonly parent: Scope | null,
    indent: string,
  ) {
    this.indent = indent;
  }

  /** The JS name of an IR variable, resolved through enclosing scopes. */
  resolve(v: string): { js: string; extent: number; scope: Scope } {
    for (let s: Scope | null = this; s; s = s.parent) {
      const b = s.vars.get(v);
      if (b !== undefined) return { ...b, scope: s };
    }
    throw new Error(`gpu.js renderer: variable '${v}' is not bound (not an output loop or an enclosing reduce variable)`);
  }

  depth(): number {
    let d = 0;
    for (let s = this.parent; s; s = s.parent) d++;
    return d;
  }

  lookup(key: string): string | undefined {
    for (let s: Scope | null = this; s; s = s.parent) {
      const js = s.memo.get(key);
      if (js !== undefined) return js;
    }
    return undefined;
  }
}

export class Ctx {
  private n = 0;
  readonly bufParams = new Map<BufferId, string>();
  readonly argParams = new Map<string, string>();
  constructor(
    readonly plan: KernelPlan,
    readonly kernel: Kernel,
  ) {}
  fresh(prefix: string): string {
    return `${prefix}${this.n++}`;
  }
  /** The parameter holding buffer `id`, after checking that offsets in [lo, hi] lie inside it. */
  buf(id: BufferId, [lo, hi]: [number, number]): string {
    const info = this.plan.buffers[id];
    if (!info) throw new Error(`gpu.js renderer: kernel ${this.kernel.name} loads unknown buffer ${id}`);
    // out-of-bounds reads differ by mode (cpu NaN, webasm 0, webgpu clamped): refuse them here
    if (lo < 0 || hi >= info.size) {
      throw new Error(`gpu.js renderer: kernel ${this.kernel.name} reads buffer ${id} at offsets [${lo}, ${hi}], outside its ${info.size} elements`);
    }
    if (hi > GPUJS_MAX_OFFSET) throw new Error(`gpu.js renderer: kernel ${this.kernel.name} indexes buffer ${id} beyond 2^31`);
    let p = this.bufParams.get(id);
    if (!p) {
      p = `b${id}`;
      this.bufParams.set(id, p);
    }
    return p;
  }
  arg(name: string): string {
    let p = this.argParams.get(name);
    if (!p) {
      p = `u${this.argParams.size}_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
      this.argParams.set(name, p);
    }
    return p;
  }
}
