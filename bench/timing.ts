// Side-by-side timing: samples taken round-robin (one of each in turn), after warm-up, medians and
// ranges. A function may return { selfMs } (the PyTorch peer times its step itself, so the pipe is
// not counted); otherwise the wall time of the call is the sample.
//
// Fairness on a small machine: OpenBLAS's worker threads (ours, and PyTorch's in its process) keep
// spinning for about 2^28 cycles (~100 ms here) after each call before they sleep, and PyTorch's
// OpenMP threads spin briefly too. Interleaved back to back, each side's spinning pool takes a core
// from the other side's next sample (measured: PyTorch's paper step 48 ms in the interleave against
// 36 ms alone). So every sample is preceded by a pause of SETTLE_MS, long enough for every pool to
// go idle; neither side's own settings change. bench/index.ts also reports PyTorch's steps timed
// back to back in its own loop (torch_alone_ms) to check the interleave against.
import { median } from './common.ts';

export interface Timing {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

/** the pause before each sample (ms): longer than OpenBLAS's spin-wait after a call (see above) */
export const SETTLE_MS = 150;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function timeTogether(fns: Record<string, () => unknown>, reps: number, warmup = 2, settleMs = SETTLE_MS): Promise<Record<string, Timing>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (let w = 0; w < warmup; w++) for (const f of Object.values(fns)) await f();
  for (let i = 0; i < reps; i++)
    for (const [k, f] of Object.entries(fns)) {
      if (settleMs > 0) await sleep(settleMs);
      const t = performance.now();
      let r = f();
      if (r instanceof Promise) r = await r;
      const wall = performance.now() - t;
      samples[k]!.push(r !== null && typeof r === 'object' && 'selfMs' in r ? Number(r.selfMs) : wall);
    }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, { median: median(v), min: Math.min(...v), max: Math.max(...v), samples: v }]));
}

export const ms = (t: Timing) => `${t.median.toFixed(1)} ms (${t.min.toFixed(1)}–${t.max.toFixed(1)})`;
