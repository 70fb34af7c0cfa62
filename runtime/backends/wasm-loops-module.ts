// The module of a plan's wasm loops kernels (rendered by wasm-loops.ts): one exported function per
// distinct kernel structure — a transformer's blocks repeat the same kernels on other buffers, and
// since a kernel addresses its buffers through its table (canonicalBuffers order), they share one.
import { type BufferId, type Kernel, kernelStructureText } from '../../compiler/fuse/kernel-ir.ts';
import { type MemoryImport, ModuleBuilder } from './wasm-emit.ts';
import { canonicalBuffers, renderWasmKernel } from './wasm-loops.ts';

/**
 * A key equal for kernels that render to the same function: loops and body with each buffer named by
 * its table position (a transformer's blocks repeat the same kernels on other buffers: rendered once).
 */
const structureKey = (k: Kernel, bufs: readonly BufferId[]): string => kernelStructureText(k, (id) => String(bufs.indexOf(id)));

export interface WasmLoopsModule {
  bytes: Uint8Array<ArrayBuffer>;
  /** per kernel (in the order given): its export and buffer table order, or why it stays JS */
  kernels: ({ name: string; bufs: BufferId[] } | { reason: string })[];
}

/**
 * One module holding the wasm rendering of every kernel that has one (null entries are skipped).
 * `like(k)`: an earlier entry of k's structure on other buffers, when known (compileCpuKernels'
 * renamings: cpu-share.ts renamedFrom) — its function, found without building k's key.
 */
export function buildWasmLoops(kernels: readonly (Kernel | null)[], args: readonly string[], memory: MemoryImport, like?: (k: Kernel) => Kernel | undefined): WasmLoopsModule {
  const mb = new ModuleBuilder(memory);
  const out: WasmLoopsModule['kernels'] = [];
  const byKey = new Map<string, { name: string } | { reason: string }>();
  const doneOf = new Map<Kernel, { name: string } | { reason: string }>();
  kernels.forEach((k, i) => {
    if (!k) {
      out.push({ reason: 'not a loops kernel' });
      return;
    }
    const bufs = canonicalBuffers(k);
    const earlier = like?.(k);
    let done = earlier && doneOf.get(earlier);
    if (!done) {
      const key = structureKey(k, bufs);
      done = byKey.get(key);
      if (!done) {
        const r = renderWasmKernel(k, args);
        if ('reason' in r) done = r;
        else {
          done = { name: `k${i}` };
          mb.add(r.code, [], done.name);
        }
        byKey.set(key, done);
      }
    }
    doneOf.set(k, done);
    out.push('name' in done ? { name: done.name, bufs } : done);
  });
  return { bytes: mb.bytes(), kernels: out };
}
