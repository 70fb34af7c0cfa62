/**
 * Generated-loop path vs GEMM path of the CPU renderer (compiler/codegen/cpu.ts), in one run.
 *
 *   npx tsx bench/cpu-kernels.ts              # the LoRA training-step shapes
 *   npx tsx bench/cpu-kernels.ts --quick      # fewer samples
 *   npx tsx bench/cpu-kernels.ts --crossover  # small shapes: where gemm starts beating loops
 *   npx tsx bench/cpu-kernels.ts --json       # one JSON object on stdout
 *
 * Each shape is a hand-built kernel out[i,j] = Σ_k A·B (the fusion pass's contraction form),
 * compiled three ways: 'loops' (generated JS), 'gemm' with operands in plain Float32Arrays (gemm
 * copies them into wasm memory), 'gemm' with every buffer inside the gemm engine's wasm memory
 * (what cpuBackend does: zero copies). A '+bias,relu' row adds an epilogue pass to the big shape.
 * Cells: median GFLOP/s (2·M·N·K / time) over samples taken round-robin (one sample = mean over
 * a batch of calls lasting ≥ 20 ms, after warm-up for V8 tier-up); the host is a shared 2-vCPU VM
 * with ±30% noise, so compare within one run.
 */
import { compileCpuKernel, type CompiledCpuKernel } from '../compiler/codegen/cpu.ts';
import { arg, bin, kernel, ld, rand, sum, un } from '../compiler/codegen/cpu-testkit.ts';
import type { Kernel } from '../compiler/fuse/kernel-ir.ts';
import { cpuGemmEngine, cpuGemmReady, gemm } from '../runtime/backends/cpu-gemm.ts';
import { benchFlags, GEMM_SHAPES, median } from './common.ts';

const { quick: QUICK, json: JSON_OUT, log, has } = benchFlags();

interface Shape {
  name: string;
  M: number;
  K: number;
  N: number;
  /** A stored K×M (the Xᵀ·G gradient form) */
  transA?: boolean;
  epilogue?: boolean;
}

const SHAPES: Shape[] = [...GEMM_SHAPES, { name: '1024x768@768x768 +bias,relu', M: 1024, K: 768, N: 768, epilogue: true }];

function matmulKernel(s: Shape): Kernel {
  const a = s.transA ? ld(0, { k: s.M, i: 1 }) : ld(0, { i: s.K, k: 1 });
  let body = sum({ k: s.K }, bin('*', a, ld(1, { k: s.N, j: 1 })));
  if (s.epilogue) body = un('relu', bin('+', bin('*', body, arg('scale')), ld(2, { j: 1 })));
  return kernel(s.name, 3, { i: s.M, j: s.N }, body, [0, 1, 2]);
}

interface Variant {
  name: string;
  compiled: CompiledCpuKernel;
  B: Float32Array[];
}

function buffers(s: Shape, wasm: boolean): Float32Array[] {
  const eng = cpuGemmEngine();
  const mk = (n: number, seed: number) => {
    const x = rand(n, seed);
    if (!wasm) return x;
    const w = eng.allocF32(n);
    w.set(x);
    return w;
  };
  return [mk(s.M * s.K, 1), mk(s.K * s.N, 2), mk(s.N, 3), wasm ? eng.allocF32(s.M * s.N) : new Float32Array(s.M * s.N)];
}

function time(call: () => void, minMs: number): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    call();
    n++;
    t = performance.now();
  } while (t - t0 < minMs);
  return (t - t0) / n;
}


function bench(shapes: Shape[], samples: number): Record<string, Record<string, { gflops: number; ms: number; n: number; strategy: string }>> {
  const table: Record<string, Record<string, { gflops: number; ms: number; n: number; strategy: string }>> = {};
  for (const s of shapes) {
    const k = matmulKernel(s);
    const flops = 2 * s.M * s.N * s.K;
    const args = { scale: 0.5 };
    const variants: Variant[] = [
      { name: 'loops', compiled: compileCpuKernel(k, { strategy: 'loops' }), B: buffers(s, false) },
      { name: 'gemm (copies)', compiled: compileCpuKernel(k, { strategy: 'gemm', gemm }), B: buffers(s, false) },
      { name: 'gemm (wasm mem)', compiled: compileCpuKernel(k, { strategy: 'gemm', gemm }), B: buffers(s, true) },
    ];
    const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (const v of variants) {
      // warm-up: V8 tier-up of the generated JS and of the wasm kernel
      const once = time(() => v.compiled.run(v.B, args), 0);
      if (once < 200) time(() => v.compiled.run(v.B, args), 150);
    }
    for (let r = 0; r < samples; r++) {
      for (const v of variants) {
        const slow = times.get(v.name)!.length > 0 && median(times.get(v.name)!) > 300;
        if (slow && r >= Math.min(3, samples)) continue; // the loops on the big shape: 3 samples are plenty
        times.get(v.name)!.push(time(() => v.compiled.run(v.B, args), 20));
      }
    }
    table[s.name] = {};
    for (const v of variants) {
      const ms = median(times.get(v.name)!);
      table[s.name]![v.name] = { gflops: flops / ms / 1e6, ms, n: times.get(v.name)!.length, strategy: v.compiled.strategy };
    }
  }
  return table;
}

function crossover(samples: number) {
  const out: Record<string, Record<string, number>> = {};
  for (const n of [4, 6, 8, 12, 16, 24, 32, 48, 64]) {
    const s: Shape = { name: `${n}x${n}@${n}x${n}`, M: n, K: n, N: n };
    const k = matmulKernel(s);
    const loops = compileCpuKernel(k, { strategy: 'loops' });
    const g = compileCpuKernel(k, { strategy: 'gemm', gemm });
    const Bl = buffers(s, true), Bg = buffers(s, true);
    time(() => loops.run(Bl), 100);
    time(() => g.run(Bg), 100);
    const tl: number[] = [], tg: number[] = [];
    for (let r = 0; r < samples; r++) {
      tl.push(time(() => loops.run(Bl), 10));
      tg.push(time(() => g.run(Bg), 10));
    }
    out[s.name] = { flops: 2 * n * n * n, loops_us: median(tl) * 1e3, gemm_us: median(tg) * 1e3, auto: compileCpuKernel(k, { gemm }).strategy === 'loops' ? 0 : 1 };
  }
  return out;
}

async function main() {
  await cpuGemmReady();
  const samples = QUICK ? 3 : 7;
  if (has('--crossover')) {
    const c = crossover(samples);
    if (JSON_OUT) console.log(JSON.stringify(c));
    else {
      log('shape'.padEnd(16), 'FLOPs'.padStart(8), 'loops µs'.padStart(10), 'gemm µs'.padStart(10), '  auto picks');
      for (const [name, r] of Object.entries(c)) {
        log(name.padEnd(16), String(r.flops).padStart(8), r.loops_us!.toFixed(2).padStart(10), r.gemm_us!.toFixed(2).padStart(10), r.auto ? '  gemm' : '  loops');
      }
    }
    return;
  }
  log(`cpu kernels: ${cpuGemmEngine().activeThreads} gemm thread(s), ${samples} samples, median GFLOP/s (ms per call)`);
  const t = bench(SHAPES, samples);
  if (JSON_OUT) {
    console.log(JSON.stringify(t));
    return;
  }
  const cols = Object.keys(Object.values(t)[0]!);
  log('shape'.padEnd(30), ...cols.map((c) => c.padStart(22)));
  for (const [name, row] of Object.entries(t)) {
    log(name.padEnd(30), ...cols.map((c) => `${row[c]!.gflops.toFixed(2)} (${row[c]!.ms.toFixed(2)} ms)`.padStart(22)));
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
