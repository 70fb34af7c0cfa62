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
  // the name without its kernel number (generated sources hold it: cpu-loops.ts sanitize); buffers
  // by first appearance (an unnamed arrow: a named closure per kernel costs a defineProperty under tsx)
  return { key: `${sanitize(k.name)} ${kernelStructureText(k, (id) => firstAppearance(id, bufs, pos))}`, bufs };
}

/** `b<i>`: buffer id's position among the buffers seen so far (scratch ids, negative, kept) */
function firstAppearance(id: BufferId, bufs: BufferId[], pos: Map<BufferId, number>): string {
  if (id < 0) return `S${id}`;
  let i = pos.get(id);
  if (i === undefined) {
    i = bufs.length;
    pos.set(id, i);
    bufs.push(id);
  }
  return `b${i}`;
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

/**
 * The kernel whose lowering a kernel, or a GEMM pass, was renamed from (the first of its structure):
 * the same structure on other buffers — the wasm module renders such a kernel's function once.
 */
const origins = new WeakMap<Kernel, Kernel>();
export const renamedFrom = (k: Kernel): Kernel | undefined => origins.get(k);

/** `low` (the lowering of `k0`) for kernel k of the same structure: rb maps k0's buffers to k's */
function renameLowering(low: CpuLowering, k0: Kernel, k: Kernel, rb: (id: BufferId) => BufferId): CpuLowering {
  const m0 = low.gemm;
  let gemm: GemmMatch | null = null;
  if (m0) {
    // the passes as matchGemm builds them for k: named after it, the epilogue a copy of k itself
    const e0 = m0.epilogue;
    gemm = {
      ...m0,
      core: nodeAt(k0.body, k.body, m0.core) ?? renameExpr(m0.core, rb),
      L: { ...m0.L, buf: rb(m0.L.buf) },
      R: { ...m0.R, buf: rb(m0.R.buf) },
      alpha: m0.alpha && renameExpr(m0.alpha, rb),
      packL: renamePack(m0.packL, k, 'packL', rb),
      packR: renamePack(m0.packR, k, 'packR', rb),
      epilogue: e0 && renamedAs(e0, { ...k, name: `${k.name}:epilogue`, body: renameExpr(e0.body, rb), inputs: [...k.inputs, rb(e0.inputs[e0.inputs.length - 1]!)] }),
      prefill: m0.prefill && m0.prefill.map((t) => ({ ...t, buf: rb(t.buf) })),
    };
  }
  return { ...low, gemm, loops: renameForm(low.loops, rb), packL: renameForm(low.packL, rb), packR: renameForm(low.packR, rb), epilogue: renameForm(low.epilogue, rb), alpha: renameForm(low.alpha, rb) };
}

// (helpers at module level rather than named closures per kernel: under tsx each of those is an
// Object.defineProperty call — esbuild's keepNames — and these run for every repeated kernel)

/** a pack pass of k0's lowering, for k */
const renamePack = (p: Kernel | null, k: Kernel, part: string, rb: (id: BufferId) => BufferId): Kernel | null =>
  p && renamedAs(p, { ...p, name: `${k.name}:${part}`, body: renameExpr(p.body, rb), inputs: p.inputs.map(rb) });

/** k, recorded as renamed from `from` */
const renamedAs = (from: Kernel, k: Kernel): Kernel => {
  origins.set(k, from);
  return k;
};

/** a form of k0's lowering on k's buffers (made when it is first needed) */
const renameForm = (f: Lazy<KernelForm> | null, rb: (id: BufferId) => BufferId): Lazy<KernelForm> | null =>
  f &&
  lazy(() => {
    const x = f();
    return { ...x, ids: x.ids.map(rb) };
  });

/** the renaming of `bufs0` (a lowered kernel's buffers, by first appearance) to `bufs` (another's) */
function renaming(bufs0: readonly BufferId[], bufs: readonly BufferId[], k0: Kernel): (id: BufferId) => BufferId {
  const to = new Map<BufferId, BufferId>();
  for (let i = 0; i < bufs0.length; i++) to.set(bufs0[i]!, bufs[i]!);
  return (id) => {
    if (id < 0) return id;
    const r = to.get(id);
    if (r === undefined) throw new Error(`compileCpuKernels: buffer ${id} of ${k0.name}'s lowering is not one of its own`);
    return r;
  };
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
    origins.set(k, first.k0);
    return bindCpuKernel(k, renameLowering(first.low, first.k0, k, renaming(first.bufs0, s.bufs, first.k0)), opts);
  });
}
