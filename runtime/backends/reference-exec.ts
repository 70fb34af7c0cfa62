// The reference backend: runs a kernel plan with the float64 reference executor. Slow; the oracle
// the other backends are tested against, and `--backend reference`.
import type { KernelPlan } from '../../compiler/fuse/kernel-ir.ts';
import { runKernelReference } from '../../compiler/fuse/reference.ts';
import type { Backend, Executable } from '../executable.ts';

export const referenceBackend: Backend = {
  name: 'reference',
  available: async () => ({ ok: true }),
  async prepare(plan: KernelPlan): Promise<Executable> {
    const bufs = new Map<number, Float64Array>();
    for (const b of plan.buffers) bufs.set(b.id, new Float64Array(b.size));
    const idOf = (name: string) => {
      const id = plan.leaves.get(name) ?? plan.outputs.get(name);
      if (id === undefined) throw new Error(`reference backend: no buffer named '${name}'`);
      return id;
    };
    return {
      backend: 'reference',
      async set(name, data) {
        const id = idOf(name);
        if (data.length !== plan.buffers[id].size) throw new Error(`reference backend: '${name}' needs ${plan.buffers[id].size} values, got ${data.length}`);
        bufs.set(id, Float64Array.from(data));
      },
      async run(args = {}) {
        for (const k of plan.kernels) bufs.set(k.out, runKernelReference(k, bufs, args));
      },
      async read(name) {
        return Float32Array.from(bufs.get(idOf(name))!);
      },
      async assign(pairs) {
        const values = pairs.map(([from]) => Float64Array.from(bufs.get(idOf(from))!));
        pairs.forEach(([, to], i) => bufs.set(idOf(to), values[i]));
      },
      dispose() {
        bufs.clear();
      },
    };
  },
};
