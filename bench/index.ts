// `npm run bench [-- --json] [-- --quick]`: the benchmark (not a test). Everything is measured side
// by side in one run, as medians (with ranges) after warm-up, samples interleaved round-robin:
//   1. the Lily adapter's forward+backward, fused+rewritten vs naive (the unrewritten program);
//   2. one full training step at the Lily paper's shape (frozen 768×768 layer, Lily r=16 E=4,
//      N=1024, MSE, AdamW): ours (OpenBLAS gemm; and the wasm gemm fallback) vs PyTorch eager
//      (bench/torch/peer.py) and TensorFlow.js; the same for LoRA r=16 against PyTorch;
//   3. the whole-model step (bench/model.ts: ViT-small-like encoder, Lily or LoRA on q, v) vs PyTorch;
//   4. memory (bytes a warm step allocates, peak RSS), compile times (bench/compile.ts), and
//      OpenBLAS's sgemm rate in this run (the fraction of it each step reaches);
//   5. the fused forward+backward on each gpu.js mode available here (skipped with --quick).
// Flags: --json, --quick (fewer samples), --threads N (OpenBLAS's and PyTorch's threads), --steps-only
// (sections 1, 2 and the memory of the paper step), --settle MS (the pause before each sample that lets
// both sides' thread pools go idle, bench/timing.ts; default SETTLE_MS, 0 = back to back).
// bin/bench.js runs this with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed (for PyTorch's child too).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { checkSource } from '../compiler/frontend.ts';
import { planKernels } from '../compiler/fuse/fuse.ts';
import { compile, flopsSplit, type Program } from '../compiler/pipeline.ts';
import { bytesPerStep, peakRss } from '../runtime/alloc-probe.ts';
import type { Backend, Executable } from '../runtime/executable.ts';
import { cpuBackend } from '../runtime/backends/cpu-exec.ts';
import { cpuGemmReady } from '../runtime/backends/cpu-gemm.ts';
import { gpuJsBackend, type GpuJsBackendMode } from '../runtime/backends/gpujs-exec.ts';
import { loadNativeBlas } from '../runtime/backends/native-blas.ts';
import { probeWebGPU } from '../runtime/backends/webgpu-node.ts';
import { compileTraining, type Trainer } from '../runtime/train.ts';
import { createTfjsLilyStep } from '../runtime/tfjs-oracle/lily-step.ts';
import { benchFlags, median } from './common.ts';
import { compileTimesInChild } from './compile.ts';
import { MODEL, ourModelStep } from './model.ts';
import { ms, SETTLE_MS, timeTogether as timeWith } from './timing.ts';
import { TorchPeer } from './torch-peer.ts';

const { json, quick, has } = benchFlags();
const argAfter = (flag: string) => (process.argv.includes(flag) ? process.argv[process.argv.indexOf(flag) + 1] : undefined);
/** --threads N: OpenBLAS's threads and PyTorch's (default: every core) */
const THREADS = argAfter('--threads') ? Number(argAfter('--threads')) : os.availableParallelism?.() ?? os.cpus().length;
/** --steps-only: the paper-shape steps (and sgemm) alone, without the whole model, compile times and gpu.js */
const STEPS_ONLY = has('--steps-only');
const SETTLE = argAfter('--settle') !== undefined ? Number(argAfter('--settle')) : SETTLE_MS;
const timeTogether = (fns: Record<string, () => unknown>, reps: number, warmup = 2) => timeWith(fns, reps, warmup, SETTLE);
// Progress goes to stderr with --json (stdout is then only the JSON), to stdout otherwise.
const log = (s: string) => (json ? process.stderr.write(`${s}\n`) : process.stdout.write(`${s}\n`));
const SHAPE = { N: 1024, In: 768, Out: 768, r: 16, E: 4 };
const REPS = quick ? 3 : 9;
const MODEL_REPS = quick ? 2 : 5;

const source = (f: string) => readFileSync(new URL(`../stdlib/adapters/${f}`, import.meta.url), 'utf8');
const lilyChecked = checkSource(source('lily.lily'), 'stdlib/adapters/lily.lily');
const loraChecked = checkSource(source('lora.lily'), 'stdlib/adapters/lora.lily');

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

/** One OpenBLAS sgemm 1024×768 @ 768×768 through our binding (its rate is the peak the steps are compared with). */
const SGEMM_FLOP = 2 * 1024 * 768 * 768;
function sgemmCall(): (() => void) | null {
  const native = loadNativeBlas();
  if (!native.ok) return null;
  const [M, K, N] = [1024, 768, 768];
  const a = new Float32Array(M * K).fill(0.5), b = new Float32Array(K * N).fill(0.25), c = new Float32Array(M * N);
  return () => native.blas.gemm(a, b, c, M, K, N);
}

/** bytes the CPU executable allocated for all its buffers (temps share memory by liveness) */
const blockBytes = (tr: Trainer) => (tr.exec as { bytes?: number }).bytes ?? null;

const stepFn = (tr: Trainer, batch: { x: Float32Array; t: Float32Array }) => (tr.stepSync ? () => tr.stepSync!(batch) : () => tr.step(batch));

async function main() {
  const results: Record<string, unknown> = {
    shape: SHAPE,
    settle_ms: SETTLE,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, load: os.loadavg() },
  };
  const native = loadNativeBlas();
  if (native.ok) native.blas.setThreads(THREADS);
  results.gemm = native.ok ? { engine: 'openblas', config: native.blas.config, threads: THREADS } : { engine: 'wasm', reason: native.reason };
  log(`Lily benchmark on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'} (load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  log(native.ok ? `CPU gemm: ${native.blas.config}, ${THREADS} threads` : `CPU gemm: WebAssembly SIMD (native BLAS: ${native.reason})`);
  await cpuGemmReady(); // the wasm gemm's workers, for the fallback rows
  const torch = await TorchPeer.start(THREADS);
  const peer = 'peer' in torch ? torch.peer : null;
  results.torch = 'peer' in torch ? { ...torch.info, compile_note: torch.info.compile ? undefined : `torch.compile needs PyTorch ≥ 2.0 (this is ${torch.info.torch})` } : { available: false, reason: torch.error };
  log('peer' in torch ? `PyTorch ${torch.info.torch}, ${torch.info.threads} threads${torch.info.compile ? '' : ' (no torch.compile: it needs PyTorch ≥ 2.0)'}` : `PyTorch: not available (${torch.error})`);

  // 1. fused + rewritten vs naive, forward + backward, on the CPU backend.
  const opt = compile(lilyChecked, 'Lily', { settings: SHAPE, seed: 1 });
  const naive = compile(lilyChecked, 'Lily', { settings: SHAPE, seed: 1, skip: ['contract'] });
  const fo = flopsSplit(opt.graph);
  const fn = flopsSplit(naive.graph);
  const cpu = cpuBackend();
  const a = await prepareVjp(opt, cpu);
  const b = await prepareVjp(naive, cpu);
  const t1 = await timeTogether({ fused: () => a.exec.run(), naive: () => b.exec.run() }, REPS);
  const flopRatio = (fn.forward + fn.backward) / (fo.forward + fo.backward);
  results.backend = 'cpu';
  results.lily = {
    fused_ms: t1.fused!.median,
    naive_ms: t1.naive!.median,
    speedup: t1.naive!.median / t1.fused!.median,
    flop_ratio: flopRatio,
    fused_gflops: (fo.forward + fo.backward) / t1.fused!.median / 1e6,
    kernels: { fused: a.kernels, naive: b.kernels },
  };
  log(`\n1. Lily forward+backward (y and all gradients), CPU backend`);
  log(`   fused+rewritten ${ms(t1.fused!)} (${a.kernels} kernels, ${((fo.forward + fo.backward) / 1e6).toFixed(1)} MFLOP)`);
  log(`   naive           ${ms(t1.naive!)} (${b.kernels} kernels, ${((fn.forward + fn.backward) / 1e6).toFixed(1)} MFLOP)`);
  log(`   speedup ${(t1.naive!.median / t1.fused!.median).toFixed(2)}×  (FLOP ratio ${flopRatio.toFixed(2)}×)`);
  a.exec.dispose();
  b.exec.dispose();

  // 2. the paper-shape training step: ours vs PyTorch vs TensorFlow.js.
  const adamw = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
  const train = (checked: typeof lilyChecked, name: string, backend: Backend) =>
    compileTraining(checked, name, { dims: { ...SHAPE, scale: 1 }, backend, params: 'random', seed: 2, optimizer: { kind: 'adamw', ...adamw } });
  const ours = await train(lilyChecked, 'Lily', cpu);
  const oursWasm = await train(lilyChecked, 'Lily', cpuBackend({ blas: 'wasm' }));
  const L = ours.program.leaves;
  const f32 = (name: string) => ({ data: Float32Array.from(L.get(name)!.data), shape: L.get(name)!.shape });
  const batch = { x: Float32Array.from(L.get('x')!.data), t: Float32Array.from({ length: SHAPE.N * SHAPE.Out }, (_, i) => Math.sin(i)) };
  const init = { x: { data: batch.x, shape: [SHAPE.N, SHAPE.In] }, t: { data: batch.t, shape: [SHAPE.N, SHAPE.Out] }, W0: f32('base.W'), b0: f32('base.b'), A: f32('A'), R: f32('R'), B: f32('B'), s: 1, adamw };
  const tfWasm = await createTfjsLilyStep('wasm', init);
  const tfWasmFolded = await createTfjsLilyStep('wasm', init, { folded: true });
  const torchPaper = peer ? await peer.setup('paper-lily', 'paper-lily', SHAPE) : { error: 'no PyTorch' };
  const fns: Record<string, () => unknown> = { ours: stepFn(ours, batch), ours_wasm_gemm: stepFn(oursWasm, batch) };
  const sgemm = sgemmCall();
  if (sgemm) fns.sgemm = sgemm; // the peak, sampled in the same rounds as the steps
  if (peer && 'trainable' in torchPaper) fns.torch = async () => ({ selfMs: await peer.step('paper-lily') });
  fns.tfjs_wasm = () => tfWasm.step();
  fns.tfjs_wasm_folded = () => tfWasmFolded.step();
  const t2 = await timeTogether(fns, REPS);
  const torchAlone = async (name: string, n: number) => (peer ? await peer.alone(name, n) : null);
  const paperAlone = t2.torch ? await torchAlone('paper-lily', REPS) : null;
  tfWasm.dispose();
  tfWasmFolded.dispose();
  oursWasm.dispose();
  let tfCpuMs: number | undefined;
  if (!quick) {
    // tfjs-backend-cpu takes seconds per step: three samples.
    const tfCpu = await createTfjsLilyStep('cpu', init);
    tfCpuMs = (await timeTogether({ tfjs_cpu: () => tfCpu.step() }, 3, 1)).tfjs_cpu!.median;
    tfCpu.dispose();
  }
  const stepFlops = ours.flops.forward + ours.flops.backward;
  const peak = t2.sgemm ? SGEMM_FLOP / t2.sgemm.median / 1e6 : null;
  const T = (k: string) => t2[k]?.median;
  results.step = {
    ours_ms: T('ours'),
    ours_range_ms: [t2.ours!.min, t2.ours!.max],
    ours_wasm_gemm_ms: T('ours_wasm_gemm'),
    torch_cpu_ms: T('torch') ?? null,
    torch_range_ms: t2.torch ? [t2.torch.min, t2.torch.max] : null,
    torch_alone_ms: paperAlone,
    ours_over_torch: t2.torch ? T('ours')! / T('torch')! : null,
    tfjs_wasm_ms: T('tfjs_wasm'),
    tfjs_wasm_folded_ms: T('tfjs_wasm_folded'),
    tfjs_cpu_ms: tfCpuMs ?? null,
    vs_tfjs_wasm: T('tfjs_wasm')! / T('ours')!,
    gflop: stepFlops / 1e9,
    ours_gflops: stepFlops / T('ours')! / 1e6,
    sgemm_peak_gflops: peak,
    fraction_of_sgemm_peak: peak ? stepFlops / T('ours')! / 1e6 / peak : null,
    kernels: ours.plan.kernels.length,
  };
  log(`\n2. Training step at the paper's shape (frozen W0 ${SHAPE.In}×${SHAPE.Out}, Lily r=16 E=4, N=${SHAPE.N}, MSE, AdamW), ${(stepFlops / 1e9).toFixed(2)} GFLOP/step`);
  log(`   ours (CPU, ${native.ok ? 'OpenBLAS' : 'wasm'} gemm)   ${ms(t2.ours!)}  ${(stepFlops / T('ours')! / 1e6).toFixed(0)} GFLOP/s${peak ? ` = ${((100 * stepFlops) / T('ours')! / 1e6 / peak).toFixed(0)}% of sgemm's ${peak.toFixed(0)} GFLOP/s in this run` : ''}`);
  log(`   ours (CPU, wasm gemm)        ${ms(t2.ours_wasm_gemm!)}`);
  log(t2.torch ? `   PyTorch eager                ${ms(t2.torch)}  → ours / PyTorch = ${(T('ours')! / T('torch')!).toFixed(2)}  (PyTorch alone, back to back: ${paperAlone!.toFixed(1)} ms)` : `   PyTorch: ${'error' in torchPaper ? torchPaper.error : ''}`);
  log(`   tfjs-backend-wasm            ${ms(t2.tfjs_wasm!)}  → ours is ${(T('tfjs_wasm')! / T('ours')!).toFixed(1)}× faster`);
  log(`   tfjs-backend-wasm (folded)   ${ms(t2.tfjs_wasm_folded!)}`);
  if (tfCpuMs) log(`   tfjs-backend-cpu             ${tfCpuMs.toFixed(0)} ms`);

  // LoRA r=16 at the same shape
  const oursLora = await compileTraining(loraChecked, 'LoRA', { dims: { ...SHAPE, alpha: 16 }, backend: cpu, params: 'random', seed: 2, optimizer: { kind: 'adamw', ...adamw } });
  const torchLora = peer ? await peer.setup('paper-lora', 'paper-lora', SHAPE) : null;
  const loraFns: Record<string, () => unknown> = { ours: stepFn(oursLora, batch) };
  if (peer && torchLora && 'trainable' in torchLora) loraFns.torch = async () => ({ selfMs: await peer.step('paper-lora') });
  const t3 = await timeTogether(loraFns, REPS);
  const loraAlone = t3.torch ? await torchAlone('paper-lora', REPS) : null;
  results.step_lora = { ours_ms: t3.ours!.median, torch_cpu_ms: t3.torch?.median ?? null, torch_alone_ms: loraAlone, ours_over_torch: t3.torch ? t3.ours!.median / t3.torch.median : null, ours_range_ms: [t3.ours!.min, t3.ours!.max], torch_range_ms: t3.torch ? [t3.torch.min, t3.torch.max] : null };
  log(`   LoRA r=16: ours ${ms(t3.ours!)}${t3.torch ? `, PyTorch ${ms(t3.torch)} → ours / PyTorch = ${(t3.ours!.median / t3.torch.median).toFixed(2)} (alone ${loraAlone!.toFixed(1)} ms)` : ''}`);

  const memory: Record<string, unknown> = {};
  // seven windows, the median; every window is kept in the JSON (a window can be skewed either way by
  // V8's own work outside the step: its concurrent sweeper finishing lowers heapUsed, tier-up code raises it)
  const perStep = async (f: () => unknown, calls: number, key: string) => {
    const xs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const b = await bytesPerStep(f, calls);
      if (b !== null) xs.push(b);
    }
    memory[`${key}_windows`] = xs.map((b) => Math.round(b));
    return xs.length ? median(xs) : null;
  };
  for (let i = 0; i < 60; i++) stepFn(ours, batch)(); // V8 optimises every kernel (its code is heap too)
  memory.paper_step_bytes_per_step = await perStep(stepFn(ours, batch), 10, 'paper_step_bytes_per_step');
  memory.paper_step_buffers_bytes = blockBytes(ours);
  oursLora.dispose();
  ours.dispose();

  // 3. the whole model
  if (!STEPS_ONLY) log(`\n3. Whole-model step: ViT-small-like encoder (${MODEL.L} blocks, D=${MODEL.D}, ${MODEL.heads} heads, MLP ${MODEL.F}, ${MODEL.T} tokens, batch ${MODEL.Bt}), adapters on q and v, MSE, AdamW`);
  const model: Record<string, unknown> = {};
  for (const adapter of STEPS_ONLY ? [] : (['Lily', 'LoRA'] as const)) {
    const m = await ourModelStep(adapter);
    const kind = `vit-${adapter.toLowerCase()}`;
    const tm = peer ? await peer.setup(kind, kind, MODEL) : null;
    if (tm && 'trainable' in tm && tm.trainable !== m.trainable) log(`   note: PyTorch trains ${tm.trainable} values, ours ${m.trainable}`);
    const mf: Record<string, () => unknown> = { ours: stepFn(m.trainer, m.batch) };
    if (peer && tm && 'trainable' in tm) mf.torch = async () => ({ selfMs: await peer.step(kind) });
    // Each of the model's ~600 kernels runs once a step, so V8 takes several steps to settle on
    // optimised code for all of them; its compiler threads would meanwhile take cores from
    // PyTorch's samples too. Warm ours alone first.
    for (let i = 0; i < (quick ? 2 : 8); i++) stepFn(m.trainer, m.batch)();
    const t = await timeTogether(mf, MODEL_REPS, 1);
    const alone = t.torch ? await torchAlone(kind, MODEL_REPS) : null;
    model[adapter] = {
      ours_ms: t.ours!.median,
      ours_range_ms: [t.ours!.min, t.ours!.max],
      torch_cpu_ms: t.torch?.median ?? null,
      torch_range_ms: t.torch ? [t.torch.min, t.torch.max] : null,
      torch_alone_ms: alone,
      ours_over_torch: t.torch ? t.ours!.median / t.torch.median : null,
      torch_compile: (results.torch as { compile_note?: string }).compile_note ?? null,
      trainable: m.trainable,
      gflop: m.gflop,
      ours_gflops: (m.gflop * 1e3) / t.ours!.median,
      fraction_of_sgemm_peak: peak ? (m.gflop * 1e3) / t.ours!.median / peak : null,
      kernels: m.trainer.plan.kernels.length,
    };
    log(`   ${adapter.padEnd(4)} (${m.trainable.toLocaleString('en-US')} trainable, ${m.gflop.toFixed(1)} GFLOP): ours ${ms(t.ours!)} = ${((m.gflop * 1e3) / t.ours!.median).toFixed(0)} GFLOP/s${t.torch ? `; PyTorch eager ${ms(t.torch)} → ours / PyTorch = ${(t.ours!.median / t.torch.median).toFixed(2)} (alone ${alone!.toFixed(1)} ms)` : ''}`);
    if (adapter === 'Lily') {
      // V8's late optimising work (code on the measured heap) settles over the first ~15 steps
      for (let i = 0; i < (quick ? 2 : 4); i++) stepFn(m.trainer, m.batch)();
      memory.model_step_bytes_per_step = await perStep(stepFn(m.trainer, m.batch), 1, 'model_step_bytes_per_step');
      memory.model_step_buffers_bytes = blockBytes(m.trainer);
    }
    m.trainer.dispose();
  }
  results.model = model;

  // 4. memory and compile time
  memory.peak_rss_bytes = peakRss();
  memory.torch_peak_rss_bytes = peer ? await peer.peakRss() : null;
  results.memory = memory;
  const mb = (x: unknown) => (typeof x === 'number' ? `${(x / 2 ** 20).toFixed(0)} MiB` : 'n/a');
  const bytes = (x: unknown) => (typeof x === 'number' ? `${Math.round(x)} B` : 'n/a (a GC ran in every window)');
  log(`\n4. Memory: a warm step allocates ${bytes(memory.paper_step_bytes_per_step)} (paper shape; its buffers: ${mb(memory.paper_step_buffers_bytes)}), ${bytes(memory.model_step_bytes_per_step)} (whole model; buffers ${mb(memory.model_step_buffers_bytes)}); peak RSS ours ${mb(memory.peak_rss_bytes)}, PyTorch's process ${mb(memory.torch_peak_rss_bytes)}`);
  peer?.close(); // its OpenBLAS threads would share the cores with the compiles
  // in a fresh process, as a compile runs (`lily train`): not in this one, with its heap of trainers
  const ct = STEPS_ONLY ? null : compileTimesInChild(quick ? 1 : 3);
  results.compile = ct;
  if (ct) log(`   Compile (check → training step → kernels → prepared on the CPU backend): every stdlib adapter at the paper's shape ≤ ${ct.adapters_max_ms.toFixed(0)} ms (median ${median(Object.values(ct.adapters)).toFixed(0)} ms); whole model ${ct.model_ms.toFixed(0)} ms`);
  if (peak) log(`   OpenBLAS sgemm 1024×768×768 in this run: ${peak.toFixed(0)} GFLOP/s`);

  // 5. gpu.js modes, fused forward+backward.
  if (!quick && !STEPS_ONLY) {
    const gpujs: Record<string, unknown> = {};
    const probe = await probeWebGPU();
    log(`\n5. Fused Lily forward+backward on gpu.js modes${'name' in probe ? ` (WebGPU via Dawn '${probe.name}'${probe.name === 'opengles' ? ', software llvmpipe' : ''})` : ''}`);
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
      const tm = await timeTogether({ [mode]: run }, mode === 'cpu' ? 3 : REPS, 1);
      gpujs[mode] = { available: true, fused_ms: tm[mode]!.median };
      log(`   ${mode.padEnd(8)} ${ms(tm[mode]!)}`);
      prep.exec.dispose();
    }
    results.gpujs = gpujs;
  }
  results.machine = { ...(results.machine as object), load_after: os.loadavg() };
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack}\n`);
  process.exit(1);
});
