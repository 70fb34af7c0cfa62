// Where compile time goes (`lily compile --timings`, bench/compile.ts): wall milliseconds by named
// phase — each compiler stage, the kernel plan, the backend's prepare. A phase named 'a/b' is a part
// of phase 'a' (counted inside it, not again in the total). Browser-safe: performance.now only.

export class Timings {
  /** milliseconds by phase, in the order each phase first ran */
  readonly ms = new Map<string, number>();

  add(phase: string, ms: number): void {
    this.ms.set(phase, (this.ms.get(phase) ?? 0) + ms);
  }

  time<T>(phase: string, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.add(phase, performance.now() - t0);
    }
  }

  async timeAsync<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(phase, performance.now() - t0);
    }
  }

  /** The sum of the top-level phases. */
  total(): number {
    let t = 0;
    for (const [phase, ms] of this.ms) if (!phase.includes('/')) t += ms;
    return t;
  }
}

/** Time `fn` under `phase` when timings are being taken, else just run it. */
export const timed = <T>(t: Timings | undefined, phase: string, fn: () => T): T => (t ? t.time(phase, fn) : fn());

/** A table: one line per phase (parts indented under their phase), milliseconds and share of the total. */
export function formatTimings(t: Timings): string {
  const total = t.total();
  const width = Math.max(5, ...[...t.ms.keys()].map((p) => label(p).length));
  const line = (name: string, ms: number) => `${name.padEnd(width)}  ${ms.toFixed(1).padStart(8)} ms  ${total > 0 ? ((100 * ms) / total).toFixed(0).padStart(3) : '  -'}%`;
  const top = [...t.ms.keys()].filter((p) => !p.includes('/'));
  const rows: string[] = [];
  for (const phase of top) {
    rows.push(line(phase, t.ms.get(phase)!));
    for (const [part, ms] of t.ms) if (part.startsWith(`${phase}/`)) rows.push(line(label(part), ms));
  }
  rows.push(line('total', total));
  return rows.join('\n');
}

const label = (phase: string) => {
  const parts = phase.split('/');
  return '  '.repeat(parts.length - 1) + parts[parts.length - 1];
};
