// The kernel plan and the CPU backend's prepared kernels, written out for byte-for-byte comparison
// across a change meant to keep them (a compile-time optimisation of compiler/fuse or the CPU
// prepare): for every stdlib adapter at the paper's shape and the whole-model programs, every
// kernel of the training step's plan (loops, body, buffers, FLOPs, slots), and, prepared on the CPU
// backend, each kernel's strategy, GEMM lowering and generated source, and the wasm loops module's bytes.
//   npx tsx bench/kernel-dump.ts DIR [UNIT,UNIT…]     then: diff -r DIR_BEFORE DIR_AFTER
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { checkSource } from '../compiler/frontend.ts';
import { compile } from '../compiler/pipeline.ts';
import { planKernels } from '../compiler/fuse/fuse.ts';
import { type BufferId, kernelStructureText } from '../compiler/fuse/kernel-ir.ts';
import { DEFAULT_ADAMW } from '../compiler/objective.ts';
import { cpuBackend, type CpuExecutable } from '../runtime/backends/cpu-exec.ts';
import { dumpJobs } from './dump-jobs.ts';

const [dir, only] = process.argv.slice(2);
if (!dir) {
  console.error('usage: npx tsx bench/kernel-dump.ts DIR [UNIT,UNIT…]');
  process.exit(1);
}
mkdirSync(dir, { recursive: true });

// the wasm modules prepare compiles (their bytes), caught at the constructor
const modules: Uint8Array[] = [];
const WasmModule = WebAssembly.Module;
(WebAssembly as { Module: unknown }).Module = function (bytes: Uint8Array<ArrayBuffer>) {
  modules.push(new Uint8Array(bytes));
  return new WasmModule(bytes);
} as unknown as typeof WebAssembly.Module;

const jobs = dumpJobs(only);

const id = (b: BufferId) => String(b);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
for (const { file, unit, dims } of jobs) {
  const checked = checkSource(readFileSync(file, 'utf8'), file);
  let text: string;
  try {
    const p = compile(checked, unit, { settings: dims, seed: 0, objective: { loss: 'mse', optimizer: DEFAULT_ADAMW } });
    const plan = planKernels(p.graph, { outputs: ['loss', ...p.train!.assignments.map(([from]) => from)] });
    const lines: string[] = [];
    for (const b of plan.buffers) lines.push(`buffer ${b.id} ${b.kind} [${b.shape}] ${b.size} ${b.name ?? ''} slot ${plan.slots.get(b.id) ?? '-'}`);
    lines.push(`slots ${plan.slotSizes.join(' ')}`);
    lines.push(`outputs ${[...plan.outputs].map(([n, b]) => `${n}=${b}`).join(' ')}`);
    lines.push(`leaves ${[...plan.leaves].map(([n, b]) => `${n}=${b}`).join(' ')}`);
    lines.push(`constants ${[...plan.constants].map(([n, d]) => `${n}:${sha(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))}`).join(' ')}`);
    for (const k of plan.kernels) lines.push(`kernel ${k.name} ${k.kind} in ${k.inputs.join(',')} flops ${k.flops} bytes ${k.bytes} nodes ${k.nodes.join(',')}\n  ${kernelStructureText(k, id)}`);
    modules.length = 0;
    const exe = (await cpuBackend().prepare(plan)) as CpuExecutable;
    lines.push(`--- prepared: gemm ${exe.gemmKind}, ${exe.wasmKernels} wasm kernels, ${exe.wasmPasses} wasm passes, ${exe.bytes} bytes`);
    for (const k of exe.kernels) {
      lines.push(`kernel ${k.kernel.name} ${k.strategy}${k.wasm ? ' wasm' : ''} scratch ${k.scratch.join(',')}`);
      if (k.gemm) lines.push(`  gemm ${JSON.stringify(k.gemm)}`);
      lines.push(k.source);
    }
    for (const m of modules) lines.push(`wasm module ${m.length} bytes ${sha(m)}`);
    exe.dispose();
    text = lines.join('\n') + '\n';
  } catch (e) {
    text = `error: ${(e as Error).message}\n`;
  }
  writeFileSync(`${dir}/${unit}.kernels.txt`, text);
  console.log(unit);
}
process.exit(0);
