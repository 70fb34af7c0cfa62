// `npm run bench [-- --json] [-- --quick]`: the benchmark (not a test). Everything is measured side
// by side in one run, as medians after warm-up:
//   1. the Lily adapter's forward+backward, fused+rewritten vs naive (the unrewritten program,
//      compiled and run the same way), next to the FLOP ratio;
//   2. one full training step (frozen W0, Lily, MSE loss, AdamW) on our CPU backend vs the same
//      step hand-written in TensorFlow.js on tfjs-backend-wasm and tfjs-backend-cpu;
//   3. the fused forward+backward on each gpu.js mode available here.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { checkSource } from '../compiler/frontend.ts';
import { planKernels } from '../compiler/fuse/fuse.ts';
import { compile, flopsSplit, type Program } from '../compiler/pipeline.ts';
import type { Backend, Executable } from '../runtime/executable.ts';
import { cpuBackend } from '../runtime/backends/cpu-exec.ts';
import { gpuJsBackend, type GpuJsBackendMode } from '../runtime/backends/gpujs-exec.ts';
import { probeWebGPU } from '../runtime/backends/webgpu-node.ts';
import { compileTraining } from '../runtime/train.ts';
import { createTfjsLilyStep } from '../runtime/tfjs-oracle/lily-step.ts';
import { benchFlags, median } from './common.ts';

const { json, quick } = benchFlags();
// Progress goes to stderr with --json (stdout is then only the JSON), to stdout otherwise.
const log = (s: string) => (json ? process.stderr.write(`${s}\n`) : process.stdout.write(`${s}\n`));
const SHAPE = { N: 1024, In: 768, Out: 768, r: 16, E: 4 };
const REPS = quick ? 3 : 7;


/** Time fns interleaved (round-robin), after warm-up; medians in ms. */
async function timeTogether(fns: Record<string, () => Promise<unknown>>, reps = REPS, warmup = 2): Promise<Record<string, number>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (let w = 0; w < warmup; w++) for (const f of Object.values(fns)) await f();
  for (let i = 0; i < reps; i++)
    for (const [k, f] of Object.entries(fns)) {
      const t = performance.now();
      await f();
      samples[k].push(performance.now() - t);
    }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

const lilySource = readFileSync(new URL('../stdlib/adapters/lily.lily', import.meta.url), 'utf8');
const checked = checkSource(lilySource, 'stdlib/adapters/lily.lily');

/** A prepared forward+backward program: all leaves set, run() computes y and every gradient. */
async function prepareVjp(p: Program, backend: Backend): Promise<{ exec: Executable; kernels: number }> {
  const plan = planKernels(p.graph);
  const exec = await backend.prepare(plan);
  for (const [name] of plan.leaves) {
    const v = p.leaves.get(name)?.data ?? plan.constants.get(name);
    if (!v) throw new Error(`no value for ${name}`);
    await exec.set(name, Float32Array.from(v));
  }
  return { exec, kernels: plan.kernels.length };
}

async function main() {
  const results: Record<string, unknown> = {
    shape: SHAPE,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
  };
  log(`Lily benchmark at N=${SHAPE.N}, In=Out=${SHAPE.In}, r=${SHAPE.r}, E=${SHAPE.E} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`);

  // 1. fused + rewritten vs naive, forward + backward, on the CPU backend.
  const opt = compile(checked, 'Lily', { settings: SHAPE, seed: 1 });
  const naive = compile(checked, 'Lily', { settings: SHAPE, seed: 1, skip: ['contract'] });
  const fo = flopsSplit(opt.graph);
  const fn = flopsSplit(naive.graph);
  const cpu = cpuBackend();
  const a = await prepareVjp(opt, cpu);
  const b = await prepareVjp(naive, cpu);
  const t1 = await timeTogether({ fused: () => a.exec.run(), naive: () => b.exec.run() });
  const flopRatio = (fn.forward + fn.backward) / (fo.forward + fo.backward);
  results.backend = 'cpu';
  results.lily = {
    fused_ms: t1.fused,
    naive_ms: t1.naive,
    speedup: t1.naive / t1.fused,
    flop_ratio: flopRatio,
    fused_gflops: (fo.forward + fo.backward) / t1.fused / 1e6,
    kernels: { fused: a.kernels, naive: b.kernels },
  };
  log(`\n1. Lily forward+backward (y and all gradients), CPU backend`);
  log(`   fused+rewritten ${t1.fused.toFixed(2)} ms (${a.kernels} kernels, ${((fo.forward + fo.backward) / 1e6).toFixed(1)} MFLOP)`);
  log(`   naive           ${t1.naive.toFixed(2)} ms (${b.kernels} kernels, ${((fn.forward + fn.backward) / 1e6).toFixed(1)} MFLOP)`);
  log(`   speedup ${(t1.naive / t1.fused).toFixed(2)}×  (FLOP ratio ${flopRatio.toFixed(2)}×)`);
  a.exec.dispose();
  b.exec.dispose();

  // 2. one full training step: ours vs TensorFlow.js.
  const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
  const trainer = await compileTraining(checked, 'Lily', { dims: { ...SHAPE, scale: 1 }, backend: cpu, params: 'random', seed: 2, optimizer: { kind: 'adamw', ...adamw } });
  const L = trainer.program.leaves;
  const f32 = (name: string) => ({ data: Float32Array.from(L.get(name)!.data), shape: L.get(name)!.shape });
  const x = Float32Array.from(L.get('x')!.data);
  const t = Float32Array.from({ length: SHAPE.N * SHAPE.Out }, (_, i) => Math.sin(i));
  const init = { x: { data: x, shape: [SHAPE.N, SHAPE.In] }, t: { data: t, shape: [SHAPE.N, SHAPE.Out] }, W0: f32('base.W'), b0: f32('base.b'), A: f32('A'), R: f32('R'), B: f32('B'), s: 1, adamw };
  const tfWasm = await createTfjsLilyStep('wasm', init);
  const tfWasmFolded = await createTfjsLilyStep('wasm', init, { folded: true });
  const t2 = await timeTogether({ ours: () => trainer.step({ x, t }), tfjs_wasm: () => tfWasm.step(), tfjs_wasm_folded: () => tfWasmFolded.step() });
  tfWasm.dispose();
  tfWasmFolded.dispose();
  // tfjs-backend-cpu takes seconds per step: fewer repetitions.
  const tfCpu = await createTfjsLilyStep('cpu', init);
  const t3 = await timeTogether({ tfjs_cpu: () => tfCpu.step(), ours: () => trainer.step({ x, t }) }, quick ? 1 : 3, 1);
  tfCpu.dispose();
  const stepFlops = trainer.flops.forward + trainer.flops.backward;
  results.step = {
    ours_ms: t2.ours,
    tfjs_wasm_ms: t2.tfjs_wasm,
    tfjs_wasm_folded_ms: t2.tfjs_wasm_folded,
    tfjs_cpu_ms: t3.tfjs_cpu,
    vs_tfjs_wasm: t2.tfjs_wasm / t2.ours,
    vs_tfjs_cpu: t3.tfjs_cpu / t3.ours,
    ours_gflops: stepFlops / t2.ours / 1e6,
    kernels: trainer.plan.kernels.length,
  };
  log(`\n2. Training step (frozen W0 ${SHAPE.In}×${SHAPE.Out}, Lily, MSE, AdamW), ${(stepFlops / 1e9).toFixed(2)} GFLOP/step`);
  log(`   ours (CPU backend)           ${t2.ours.toFixed(1)} ms  (${trainer.plan.kernels.length} kernels)`);
  log(`   tfjs-backend-wasm            ${t2.tfjs_wasm.toFixed(1)} ms  → ours is ${(t2.tfjs_wasm / t2.ours).toFixed(2)}× faster`);
  log(`   tfjs-backend-wasm (folded by hand) ${t2.tfjs_wasm_folded.toFixed(1)} ms  → ${(t2.tfjs_wasm_folded / t2.ours).toFixed(2)}×`);
  log(`   tfjs-backend-cpu             ${t3.tfjs_cpu.toFixed(1)} ms  → ours is ${(t3.tfjs_cpu / t3.ours).toFixed(1)}× faster`);
  trainer.dispose();

  // 3. gpu.js modes, fused forward+backward.
  const gpujs: Record<string, unknown> = {};
  const probe = await probeWebGPU();
  log(`\n3. Fused Lily forward+backward on gpu.js modes${'name' in probe ? ` (WebGPU via Dawn '${probe.name}'${probe.name === 'opengles' ? ', software llvmpipe' : ''})` : ''}`);
  for (const mode of ['webgpu', 'webasm', 'cpu'] as GpuJsBackendMode[]) {
    const backend = gpuJsBackend(mode);
    const ok = await backend.available();
    if (!ok.ok) {
      gpujs[mode] = { available: false, reason: ok.reason };
      log(`   ${mode.padEnd(8)} not available: ${ok.reason}`);
      continue;
    }
    const prep = await prepareVjp(opt, backend);
    // Read one small output so the time includes finishing every kernel (WebGPU is asynchronous).
    const run = async () => {
      await prep.exec.run();
      await prep.exec.read('grad:R');
    };
    const tm = await timeTogether({ [mode]: run }, mode === 'cpu' ? (quick ? 1 : 3) : REPS, 1);
    gpujs[mode] = { available: true, fused_ms: tm[mode] };
    log(`   ${mode.padEnd(8)} ${tm[mode].toFixed(1)} ms`);
    prep.exec.dispose();
  }
  results.gpujs = gpujs;
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
