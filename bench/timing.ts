// Side-by-side timing: samples taken round-robin (one of each in turn), after warm-up, medians and
// ranges. A function may return { selfMs } (the PyTorch peer times its step itself, so the pipe is
// not counted); otherwise the wall time of the call is the sample.
import { median } from './common.ts';

export interface Timing {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export async function timeTogether(fns: Record<string, () => unknown>, reps: number, warmup = 2): Promise<Record<string, Timing>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (let w = 0; w < warmup; w++) for (const f of Object.values(fns)) await f();
  for (let i = 0; i < reps; i++)
    for (const [k, f] of Object.entries(fns)) {
      const t = performance.now();
      let r = f();
      if (r instanceof Promise) r = await r;
      const wall = performance.now() - t;
      samples[k]!.push(r !== null && typeof r === 'object' && 'selfMs' in r ? Number(r.selfMs) : wall);
    }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, { median: median(v), min: Math.min(...v), max: Math.max(...v), samples: v }]));
}

export const ms = (t: Timing) => `${t.median.toFixed(1)} ms (${t.min.toFixed(1)}–${t.max.toFixed(1)})`;
