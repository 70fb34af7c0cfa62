// Kernels of the same structure lowered once. A transformer's blocks repeat the same kernels on other
// buffers (the whole-model program: 519 kernels, 95 structures), and lowering one (GEMM matching,
// rendering its passes) costs far more than renaming the buffers of a lowering already made: the
// lowering depends on a kernel's buffers only through which loads read the same buffer, which one
// is the output, and which are GEMM scratch (negative ids) — exactly what the structure key keeps.
// Renamed, a lowering equals the one lowerCpuKernel would derive for that kernel (cpu-share.test.ts
// checks every kernel of every stdlib adapter's step and of the whole model).
import { type BufferId, type Kernel, type KExpr, kernelStructureText } from '../fuse/kernel-ir.ts';
import { bindCpuKernel, type CompiledCpuKernel, type CpuKernelOptions, type CpuLowering, type Lazy, lazy, lowerCpuKernel } from './cpu.ts';
import type { GemmMatch } from './cpu-gemm-match.ts';
import type { KernelForm } from './cpu-loops.ts';
import { sanitize } from './cpu-loops.ts';

/** A kernel's structure: its key, and its buffers (≥ 0) in the order the key numbers them. */
export interface KernelStructure {
  key: string;
  bufs: BufferId[];
}

/**
 * Equal keys ⇔ kernels equal up to a renaming of their buffers (scratch ids kept) and the kernel
 * number in their names (generated sources hold the name without it: cpu-loops.ts sanitize).
 */
export function kernelStructure(k: Kernel): KernelStructure {
  const bufs: BufferId[] = [];
  const pos = new Map<BufferId, number>();
  const ref = (id: BufferId) => {
    if (id < 0) return `S${id}`;
    let i = pos.get(id);
    if (i === undefined) {
      i = bufs.length;
      pos.set(id, i);
      bufs.push(id);
    }
    return `b${i}`;
  };
  // the name without its kernel number (generated sources hold it: cpu-loops.ts sanitize)
  return { key: `${sanitize(k.name)} ${kernelStructureText(k, ref)}`, bufs };
}

/** e with every buffer id renamed by `rb` */
function renameExpr(e: KExpr, rb: (id: BufferId) => BufferId): KExpr {
  switch (e.k) {
    case 'load':
      return { ...e, buf: rb(e.buf) };
    case 'unary':
    case 'unaryGrad':
      return { ...e, a: renameExpr(e.a, rb) };
    case 'bin':
      return { ...e, a: renameExpr(e.a, rb), b: renameExpr(e.b, rb) };
    case 'reduce':
      return { ...e, body: renameExpr(e.body, rb) };
    default:
      return e;
  }
}

/** the node of `e` where `target` sits in `like` (e and like of the same structure) */
function nodeAt(like: KExpr, e: KExpr, target: KExpr): KExpr | null {
  if (like === target) return e;
  switch (like.k) {
    case 'unary':
    case 'unaryGrad':
      return nodeAt(like.a, (e as typeof like).a, target);
    case 'bin':
      return nodeAt(like.a, (e as typeof like).a, target) ?? nodeAt(like.b, (e as typeof like).b, target);
    case 'reduce':
      return nodeAt(like.body, (e as typeof like).body, target);
    default:
      return null;
  }
}

/** `low` (the lowering of `k0`) for kernel k of the same structure: rb maps k0's buffers to k's */
function renameLowering(low: CpuLowering, k0: Kernel, k: Kernel, rb: (id: BufferId) => BufferId): CpuLowering {
  const form = (f: Lazy<KernelForm> | null): Lazy<KernelForm> | null =>
    f &&
    lazy(() => {
      const x = f();
      return { ...x, ids: x.ids.map(rb) };
    });
  const m0 = low.gemm;
  let gemm: GemmMatch | null = null;
  if (m0) {
    // the passes as matchGemm builds them for k: named after it, the epilogue a copy of k itself
    const pack = (p: Kernel | null, part: string): Kernel | null => p && { ...p, name: `${k.name}:${part}`, body: renameExpr(p.body, rb), inputs: p.inputs.map(rb) };
    const e0 = m0.epilogue;
    gemm = {
      ...m0,
      core: nodeAt(k0.body, k.body, m0.core) ?? renameExpr(m0.core, rb),
      L: { ...m0.L, buf: rb(m0.L.buf) },
      R: { ...m0.R, buf: rb(m0.R.buf) },
      alpha: m0.alpha && renameExpr(m0.alpha, rb),
      packL: pack(m0.packL, 'packL'),
      packR: pack(m0.packR, 'packR'),
      epilogue: e0 && { ...k, name: `${k.name}:epilogue`, body: renameExpr(e0.body, rb), inputs: [...k.inputs, rb(e0.inputs[e0.inputs.length - 1]!)] },
      prefill: m0.prefill && m0.prefill.map((t) => ({ ...t, buf: rb(t.buf) })),
    };
  }
  return { ...low, gemm, loops: form(low.loops), packL: form(low.packL), packR: form(low.packR), epilogue: form(low.epilogue), alpha: form(low.alpha) };
}

/**
 * compileCpuKernel for each kernel, in order (passes reach opts.wrapPass in the same order), each
 * structure lowered once and renamed onto the kernels that repeat it.
 */
export function compileCpuKernels(kernels: readonly Kernel[], opts: CpuKernelOptions = {}): CompiledCpuKernel[] {
  const lowered = new Map<string, { k0: Kernel; bufs0: BufferId[]; low: CpuLowering }>();
  return kernels.map((k) => {
    const s = kernelStructure(k);
    const first = lowered.get(s.key);
    if (!first) {
      const low = lowerCpuKernel(k, opts);
      lowered.set(s.key, { k0: k, bufs0: s.bufs, low });
      return bindCpuKernel(k, low, opts);
    }
    const to = new Map<BufferId, BufferId>();
    first.bufs0.forEach((b, i) => to.set(b, s.bufs[i]!));
    const rb = (id: BufferId) => {
      if (id < 0) return id;
      const r = to.get(id);
      if (r === undefined) throw new Error(`compileCpuKernels: buffer ${id} of ${first.k0.name}'s lowering is not one of its own`);
      return r;
    };
    return bindCpuKernel(k, renameLowering(first.low, first.k0, k, rb), opts);
  });
}
