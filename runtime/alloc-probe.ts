// Allocation probe (Node-only): bytes a call allocates once warm (JS heap and ArrayBuffers, measured
// over a window in which no garbage collection ran, so nothing allocated was reclaimed unseen), and
// the process's peak resident set. Used by the benchmark and by the step's allocation test.
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

const gcs: PerformanceEntry[] = [];
let observer: PerformanceObserver | null = null;

function watchGc(): void {
  if (observer) return;
  observer = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
}

const settle = () => new Promise((r) => setImmediate(r));

/** Bytes a window allocates around n calls: the heap and ArrayBuffer growth, or null when a GC ran inside it. */
async function windowBytes(step: () => unknown, n: number): Promise<number | null> {
  await settle();
  const seen = gcs.length;
  const t0 = performance.now();
  const m0 = process.memoryUsage();
  for (let i = 0; i < n; i++) {
    const r = step();
    if (r instanceof Promise) await r; // a sync step is not awaited: await itself allocates
  }
  const m1 = process.memoryUsage();
  const t1 = performance.now();
  await settle(); // GC entries arrive asynchronously
  if (gcs.slice(seen).some((e) => e.startTime + e.duration >= t0 && e.startTime <= t1)) return null;
  return m1.heapUsed - m0.heapUsed + (m1.arrayBuffers - m0.arrayBuffers);
}

/**
 * Bytes allocated per call of step, once warm: a window of n calls and one of 2n, their difference
 * over n — what the window costs itself (the readings' own objects, the loop) cancels out, so a step
 * allocating nothing reads 0. Retried with fewer calls when a GC ran inside a window; null when every
 * try saw one.
 */
export async function bytesPerStep(step: () => unknown, calls = 20): Promise<number | null> {
  watchGc();
  for (let n = calls; n >= 1; n = Math.floor(n / 2)) {
    const once = await windowBytes(step, n);
    const twice = once === null ? null : await windowBytes(step, 2 * n);
    if (once !== null && twice !== null) return (twice - once) / n;
  }
  return null;
}

/** peak resident set of this process so far, in bytes */
export const peakRss = () => process.resourceUsage().maxRSS * 1024;
