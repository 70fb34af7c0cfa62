/**
 * Side-by-side f32 GEMM throughput of every CPU candidate, in one run.
 *
 *   npx tsx bench/gemm.ts           # table
 *   npx tsx bench/gemm.ts --json    # machine-readable (one JSON object on stdout)
 *   npx tsx bench/gemm.ts --quick   # fewer samples, skips the slowest cells
 *
 * Each cell: warm-up (and, for wasm, enough calls for V8 to tier up from
 * Liftoff to TurboFan), then 9 samples taken round-robin across candidates
 * (one sample = the mean over a batch of calls lasting ≥ 15 ms; slow cells
 * get 3 or 1 single-call samples); the cell reports the MEDIAN GFLOP/s
 * (2·M·N·K / time) and `n`, the number of samples. The host is a shared 2-vCPU VM: run-to-run noise is
 * ±30%, so compare columns within one run.
 *
 * Shapes (the ones a LoRA training step needs):
 *   1024×768 @ 768×16        x·A (down projection)
 *   1024×16  @ 16×768        h·B (up projection)
 *   (1024×768)ᵀ @ 1024×16    Aᵀ-style gradient (transA, A given 1024×768)
 *   1024×768 @ 768×768       frozen base matmul (dominates a step)
 */
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { relaxedSimdAvailable, WasmGemm } from '../runtime/backends/cpu-gemm.ts';
import { loadNativeBlas } from '../runtime/backends/native-blas.ts';
import { benchFlags, GEMM_SHAPES } from './common.ts';
import { gemmJsBlocked, gemmJsNaive, makeGpuJsGemm, type AsyncGemmFn, type GemmFn } from '../runtime/backends/gemm-candidates.ts';

const { json: JSON_OUT, quick: QUICK, log } = benchFlags();

interface Shape {
  name: string;
  M: number;
  K: number;
  N: number;
  transA: boolean;
}
const SHAPES: Shape[] = GEMM_SHAPES;

interface Candidate {
  name: string;
  note: string;
  /** prepare one shape; returns the timed call */
  prepare(s: Shape, a: Float32Array, b: Float32Array, out: Float32Array): Promise<Prepared>;
  /** seconds of warm-up calls (wasm tier-up) */
  warmupMs?: number;
  teardown?(): Promise<void>;
}

function syncCandidate(name: string, note: string, fn: GemmFn, warmupMs = 0): Candidate {
  return {
    name,
    note,
    warmupMs,
    prepare: async (s, a, b, out) => ({ call: () => fn(a, b, out, s.M, s.K, s.N, { transA: s.transA }) }),
  };
}

function asyncCandidate(name: string, note: string, make: () => { gemm: AsyncGemmFn; destroy: () => Promise<void> }): Candidate {
  let inst: { gemm: AsyncGemmFn; destroy: () => Promise<void> } | null = null;
  return {
    name,
    note,
    prepare: async (s, a, b, out) => {
      inst ??= make();
      const g = inst.gemm;
      return { call: () => g(a, b, out, s.M, s.K, s.N, { transA: s.transA }) };
    },
    teardown: async () => {
      await inst?.destroy();
      inst = null;
    },
  };
}

// ---- tfjs ----
type Tf = typeof import('@tensorflow/tfjs-core');
async function loadTf(): Promise<{ tf: Tf; backends: string[]; error?: string }> {
  const require = createRequire(import.meta.url);
  // tfjs-core prints a "use tfjs-node" banner through console.warn in Node
  const warn = console.warn;
  console.warn = () => {};
  try {
    const tf = (await import('@tensorflow/tfjs-core')) as Tf;
    // PROD: no debug checks, and no "install tfjs-node" banner on first use
    tf.enableProdMode();
    await import('@tensorflow/tfjs-backend-cpu');
    const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as typeof import('@tensorflow/tfjs-backend-wasm');
    // the .wasm files ship in the npm package; point the loader at them (no network)
    const dist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
    wasm.setWasmPaths(dist + path.sep);
    const backends: string[] = [];
    for (const be of ['cpu', 'wasm']) {
      try {
        if (await tf.setBackend(be)) backends.push(be);
      } catch {
        /* unavailable */
      }
    }
    return { tf, backends };
  } catch (e) {
    return { tf: null as unknown as Tf, backends: [], error: e instanceof Error ? e.message : String(e) };
  } finally {
    console.warn = warn;
  }
}

function tfCandidate(tf: Tf, backend: string, resident: boolean): Candidate {
  let live: Array<{ dispose(): void }> = [];
  return {
    name: `tfjs-${backend}${resident ? '' : ' +copies'}`,
    note: resident
      ? `tfjs-core ${tf.version_core} backend-${backend}: tensors already resident, times matMul + dataSync`
      : `tfjs-core backend-${backend}: tensor2d(a), tensor2d(b), matMul, dataSync, dispose — same copy work as gemm()`,
    warmupMs: 200,
    prepare: async (s, a, b, out) => {
      await tf.setBackend(backend);
      const before = async () => {
        if (tf.getBackend() !== backend) await tf.setBackend(backend);
      };
      const aShape: [number, number] = s.transA ? [s.K, s.M] : [s.M, s.K];
      if (resident) {
        const ta = tf.tensor2d(a, aShape), tb = tf.tensor2d(b, [s.K, s.N]);
        live.push(ta, tb);
        return {
          before,
          call: () => {
            const c = tf.matMul(ta, tb, s.transA, false);
            out.set(c.dataSync() as Float32Array);
            c.dispose();
          },
        };
      }
      return {
        before,
        call: () => {
          const ta = tf.tensor2d(a, aShape), tb = tf.tensor2d(b, [s.K, s.N]);
          const c = tf.matMul(ta, tb, s.transA, false);
          out.set(c.dataSync() as Float32Array);
          ta.dispose(); tb.dispose(); c.dispose();
        },
      };
    },
    teardown: async () => {
      for (const t of live) t.dispose();
      live = [];
    },
  };
}

// ---- timing ----
interface Cell {
  gflops: number | null;
  ms: number | null;
  n: number;
  skipped?: string;
}

function randomF32(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}

interface Prepared {
  call: () => void | Promise<void>;
  /** untimed hook before each sample (tfjs: make its backend current) */
  before?: () => Promise<void>;
}

/**
 * Time every candidate on one shape, ROUND-ROBIN: each round takes one sample
 * of every candidate, so a noisy stretch of the shared host hits all of them
 * alike instead of whichever happened to run then.
 */
async function measureShape(cands: Candidate[], s: Shape): Promise<Cell[]> {
  const flops = 2 * s.M * s.N * s.K;
  const maxRounds = QUICK ? 5 : 9;
  const preps: Array<{ p: Prepared | null; cap: number; batch?: number; times: number[]; skipped?: string }> = [];
  for (const c of cands) {
    if (QUICK && c.name === 'js-naive' && flops > 1e9) {
      preps.push({ p: null, cap: 0, times: [], skipped: '--quick' });
      continue;
    }
    const a = randomF32(s.M * s.K, 1), b = randomF32(s.K * s.N, 2), out = new Float32Array(s.M * s.N);
    try {
      const p = await c.prepare(s, a, b, out);
      await p.before?.();
      let t0 = performance.now();
      await p.call(); // compiles gpu.js kernels, first wasm run
      const first = performance.now() - t0;
      t0 = performance.now();
      while (performance.now() - t0 < (c.warmupMs ?? 0)) await p.call(); // wasm tier-up
      // slow cells get fewer samples so one bench run stays around a minute
      const cap = first > 2500 ? 1 : first > 400 ? 3 : maxRounds;
      // fast cells: one sample = the mean of a batch of calls filling ≥ 15 ms
      t0 = performance.now();
      await p.call();
      const one = performance.now() - t0;
      const batch = Math.max(1, Math.min(100, Math.ceil(15 / Math.max(one, 0.01))));
      preps.push({ p, cap, batch, times: [] });
    } catch (e) {
      preps.push({ p: null, cap: 0, times: [], skipped: e instanceof Error ? e.message : String(e) });
    }
  }
  for (let r = 0; r < maxRounds; r++) {
    for (const x of preps) {
      if (!x.p || x.times.length >= x.cap) continue;
      await x.p.before?.();
      const n = x.batch ?? 1;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await x.p.call();
      x.times.push((performance.now() - t0) / n);
    }
  }
  return preps.map((x) => {
    if (!x.p || x.times.length === 0) return { gflops: null, ms: null, n: 0, skipped: x.skipped ?? 'no samples' };
    const t = [...x.times].sort((p, q) => p - q);
    const ms = t.length % 2 ? t[t.length >> 1]! : (t[t.length / 2 - 1]! + t[t.length / 2]!) / 2;
    return { gflops: flops / ms / 1e6, ms, n: t.length };
  });
}

async function main() {
  const engine1 = new WasmGemm({ threads: 1 });
  const engineT = new WasmGemm();
  await engineT.ready();

  const candidates: Candidate[] = [
    syncCandidate('js-naive', 'plain i-k-j loop, Float32Array', gemmJsNaive),
    syncCandidate('js-blocked', 'cache-blocked JS, 4-row unroll, K blocks of 256', gemmJsBlocked),
    asyncCandidate('gpujs-webasm', 'gpu.js 2.24 webasm, generated string kernel, sync mode (1 thread)', () => makeGpuJsGemm('webasm', false)),
    asyncCandidate('gpujs-webasm-async', 'gpu.js webasm, setAsyncMode(true): worker pool', () => makeGpuJsGemm('webasm', true)),
    syncCandidate('wasm-simd-1t', 'generated wasm SIMD 4x8 micro-kernel, 1 thread (WasmGemm threads:1)', (a, b, o, M, K, N, op) => engine1.gemm(a, b, o, M, K, N, op), 300),
    syncCandidate(
      `wasm-simd-${engineT.activeThreads}t`,
      `same kernel + ${engineT.activeThreads - 1} worker_thread(s) on a shared memory = cpu-gemm.ts gemm()`,
      (a, b, o, M, K, N, op) => engineT.gemm(a, b, o, M, K, N, op),
      300,
    ),
    {
      name: `wasm-simd-${engineT.activeThreads}t-inplace`,
      note: 'same, with a, b, out allocated by engine.allocF32(): operands used in place, no copies in/out',
      warmupMs: 300,
      prepare: async (s, a, b) => {
        const ai = engineT.allocF32(a.length), bi = engineT.allocF32(b.length), oi = engineT.allocF32(s.M * s.N);
        ai.set(a);
        bi.set(b);
        return { call: () => engineT.gemm(ai, bi, oi, s.M, s.K, s.N, { transA: s.transA }) };
      },
    },
  ];
  const native = loadNativeBlas();
  if (native.ok) candidates.push(syncCandidate('openblas', `OpenBLAS sgemm through the N-API binding (native/blas): ${native.blas.config}, ${native.blas.threads} threads`, native.blas.gemm));
  else log(`openblas unavailable: ${native.reason}`);
  const tfl = await loadTf();
  if (tfl.error) log(`tfjs unavailable: ${tfl.error}`);
  for (const be of tfl.backends) {
    candidates.push(tfCandidate(tfl.tf, be, true));
    if (be === 'wasm') candidates.push(tfCandidate(tfl.tf, be, false));
  }

  log(`GEMM f32 throughput, GFLOP/s (median of n samples, candidates interleaved) — node ${process.version}, ${os.cpus()[0]?.model ?? '?'} × ${os.availableParallelism?.() ?? os.cpus().length}, wasm relaxed-SIMD FMA: ${relaxedSimdAvailable() ? 'yes' : 'no (mul+add)'}`);
  const results: Record<string, Record<string, Cell>> = {};
  for (const c of candidates) results[c.name] = {};
  for (const s of SHAPES) {
    const cells = await measureShape(candidates, s);
    candidates.forEach((c, i) => (results[c.name]![s.name] = cells[i]!));
  }
  for (const c of candidates) await c.teardown?.();
  if (!JSON_OUT) for (const c of candidates) printRow(c.name, results[c.name]!);
  await engine1.close();
  await engineT.close();

  if (JSON_OUT) {
    console.log(JSON.stringify({
      node: process.version,
      cpu: os.cpus()[0]?.model,
      cores: os.availableParallelism?.() ?? os.cpus().length,
      relaxedSimd: relaxedSimdAvailable(),
      shapes: SHAPES,
      candidates: candidates.map((c) => ({ name: c.name, note: c.note })),
      results,
    }, null, 2));
  } else {
    log('\nnotes:');
    for (const c of candidates) log(`  ${c.name.padEnd(22)} ${c.note}`);
  }
}

let headerPrinted = false;
function printRow(name: string, cells: Record<string, Cell>) {
  if (!headerPrinted) {
    console.log(['candidate'.padEnd(22), ...SHAPES.map((s) => s.name.padStart(21))].join(' |'));
    console.log(['-'.repeat(22), ...SHAPES.map(() => '-'.repeat(21))].join('-|'));
    headerPrinted = true;
  }
  const fmt = (c: Cell | undefined) => {
    if (!c || c.gflops === null) return 'skipped'.padStart(21);
    return `${c.gflops.toFixed(2).padStart(7)} (${c.ms!.toFixed(1).padStart(6)} ms n=${c.n})`.padStart(21);
  };
  console.log([name.padEnd(22), ...SHAPES.map((s) => fmt(cells[s.name]))].join(' |'));
}

await main();
