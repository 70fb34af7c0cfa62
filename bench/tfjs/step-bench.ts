/**
 * Hand-written TensorFlow.js baseline: one full Lily training step (forward, backward w.r.t.
 * A, R, B, AdamW update) at the paper's shape, on tfjs-backend-wasm and tfjs-backend-cpu.
 *
 *   npx tsx bench/tfjs/step-bench.ts            # table
 *   npx tsx bench/tfjs/step-bench.ts --json     # one JSON object on stdout
 *   options: --reps K (samples per backend, default 7 for wasm, 5 for cpu)
 *            --folded (also time the folded form)   --only wasm|cpu
 *
 * Shape: N=1024, In=Out=768, r=16, E=4 (naive form: E per-expert matmuls).
 * Each sample is ONE step; the clock stops after `await` of the loss's data(), and tfjs's wasm/cpu
 * kernels run eagerly, so the step's work (incl. the AdamW variable updates) is done by then.
 * Warm-up first (wasm: 3 steps, cpu: 1), then samples are taken round-robin across backends
 * (switching the tfjs backend between samples, outside the timed region); we report the MEDIAN.
 * tfjs-backend-cpu takes seconds per step: if its warm-up step exceeds 4 s it gets 3 samples.
 * GFLOP/s = matmul FLOPs of the step (lilyStepFlops: x·W0 forward only — it is frozen — plus the
 * adapter's forward and backward matmuls) / median time. The host is a shared VM: expect ±30% noise.
 */
import os from 'node:os';
import {
  createTfjsLilyStep,
  lilyStepFlops,
  loadTf,
  type LilyStep,
  type LilyStepInit,
  type TfjsBackendName,
} from '../../runtime/tfjs-oracle/lily-step.ts';

const argv = process.argv.slice(2);
const JSON_OUT = argv.includes('--json');
const FOLDED = argv.includes('--folded');
const argVal = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const REPS = argVal('--reps') ? Number(argVal('--reps')) : undefined;
const ONLY = argVal('--only') as TfjsBackendName | undefined;
const log = (...s: unknown[]) => {
  if (!JSON_OUT) console.log(...s);
};

const DIMS = { N: 1024, In: 768, Out: 768, r: 16, E: 4 };

function lcgF32(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 31 - 1) * scale;
  }
  return a;
}

function paperInit(): LilyStepInit {
  const { N, In, Out, r, E } = DIMS;
  return {
    x: { data: lcgF32(N * In, 1, 1), shape: [N, In] },
    t: { data: lcgF32(N * Out, 2, 1), shape: [N, Out] },
    W0: { data: lcgF32(In * Out, 3, 1 / Math.sqrt(In)), shape: [In, Out] },
    b0: { data: lcgF32(Out, 4, 0.1), shape: [Out] },
    A: { data: lcgF32(In * r, 5, 1 / Math.sqrt(In)), shape: [In, r] },
    R: { data: lcgF32(r * E, 6, 1), shape: [r, E] },
    B: { data: lcgF32(E * r * Out, 7, 0.05), shape: [E, r, Out] },
    s: 2,
    adamw: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
  };
}

interface Cell {
  name: string;
  backend: TfjsBackendName;
  folded: boolean;
  step: LilyStep;
  warmupMs: number[];
  samples: number[];
  want: number;
  tensorsBefore: number;
  tensorsAfter: number;
  lossFirst: number;
  lossLast: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const tf = await loadTf();
  const init = paperInit();
  const backends: TfjsBackendName[] = ONLY ? [ONLY] : ['wasm', 'cpu'];
  const cells: Cell[] = [];
  for (const backend of backends) {
    for (const folded of FOLDED ? [false, true] : [false]) {
      const step = await createTfjsLilyStep(backend, init, { folded });
      cells.push({
        name: `tfjs-${backend}${folded ? ' folded' : ''}`,
        backend,
        folded,
        step,
        warmupMs: [],
        samples: [],
        want: 0,
        tensorsBefore: 0,
        tensorsAfter: 0,
        lossFirst: NaN,
        lossLast: NaN,
      });
    }
  }
  log(`Lily step, tfjs-core ${tf.version_core}, N=${DIMS.N} In=${DIMS.In} Out=${DIMS.Out} r=${DIMS.r} E=${DIMS.E}; ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}`);

  // warm-up
  for (const c of cells) {
    const n = c.backend === 'wasm' ? 3 : 1;
    for (let i = 0; i < n; i++) {
      await tf.setBackend(c.backend);
      const t0 = performance.now();
      const l = await c.step.step();
      c.warmupMs.push(performance.now() - t0);
      if (i === 0) c.lossFirst = l;
    }
    c.want = REPS ?? (c.backend === 'wasm' ? 7 : c.warmupMs[0] > 4000 ? 3 : 5);
    c.tensorsBefore = tf.memory().numTensors;
    log(`  warm-up ${c.name}: ${c.warmupMs.map((m) => m.toFixed(0)).join(', ')} ms → ${c.want} samples`);
  }

  // samples, round-robin
  const before = tf.memory().numTensors;
  for (let k = 0; cells.some((c) => c.samples.length < c.want); k++) {
    for (const c of cells) {
      if (c.samples.length >= c.want) continue;
      await tf.setBackend(c.backend); // untimed: step() would otherwise switch inside the timed region
      const t0 = performance.now();
      c.lossLast = await c.step.step();
      c.samples.push(performance.now() - t0);
    }
  }
  const after = tf.memory().numTensors;
  for (const c of cells) c.tensorsAfter = after;

  const rows = cells.map((c) => {
    const ms = median(c.samples);
    const flops = lilyStepFlops(DIMS, c.folded);
    return {
      name: c.name,
      backend: c.backend,
      folded: c.folded,
      ms,
      min_ms: Math.min(...c.samples),
      n: c.samples.length,
      gflops: flops / (ms * 1e6),
      warmup_ms: c.warmupMs,
      loss_first: c.lossFirst,
      loss_last: c.lossLast,
    };
  });
  const tensorsFlat = before === after;
  for (const c of cells) c.step.dispose();
  const leaked = tf.memory().numTensors;

  if (JSON_OUT) {
    const step: Record<string, number> = {};
    for (const r of rows) step[`tfjs_${r.backend}${r.folded ? '_folded' : ''}_ms`] = r.ms;
    console.log(
      JSON.stringify({
        bench: 'tfjs-lily-step',
        shape: DIMS,
        tfjs_core: tf.version_core,
        flops_naive: lilyStepFlops(DIMS, false),
        flops_folded: lilyStepFlops(DIMS, true),
        step,
        rows,
        tensors: { before, after, flat: tensorsFlat, after_dispose: leaked },
        host: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '' },
      }),
    );
  } else {
    log('');
    log('backend              ms/step (median)   min      n   GFLOP/s   loss first → last');
    for (const r of rows)
      log(
        `${r.name.padEnd(20)} ${r.ms.toFixed(1).padStart(10)}   ${r.min_ms.toFixed(1).padStart(8)} ${String(r.n).padStart(4)}   ${r.gflops.toFixed(2).padStart(7)}   ${r.loss_first.toFixed(5)} → ${r.loss_last.toFixed(5)}`,
      );
    log(`\nFLOPs/step (matmuls): naive ${(lilyStepFlops(DIMS) / 1e9).toFixed(3)} G, folded ${(lilyStepFlops(DIMS, true) / 1e9).toFixed(3)} G`);
    log(`tf.memory().numTensors across timed steps: ${before} → ${after} (${tensorsFlat ? 'flat' : 'GROWING'}); after dispose: ${leaked}`);
  }
  if (!tensorsFlat) process.exitCode = 1;
}

await main();
