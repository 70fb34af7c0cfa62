// Learning-rate schedules as records: the factor on the base learning rate at optimiser step t
// (1-based), after `warmup` steps of linear warm-up, for a run of `total` steps. The formulas are
// Hugging Face transformers' get_{constant,linear,cosine}_schedule_with_warmup (LambdaLR evaluated at
// the 0-based step before each update, so warm-up starts from 0).
export const SCHEDULES = {
  constant: () => 1,
  linear: (progress: number) => Math.max(0, 1 - progress),
  cosine: (progress: number) => Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress))),
} satisfies Record<string, (progress: number) => number>;

export type ScheduleName = keyof typeof SCHEDULES;
export const SCHEDULE_NAMES = Object.keys(SCHEDULES) as ScheduleName[];

export function schedule(name: ScheduleName, total: number, warmup = 0): (t: number) => number {
  const after = SCHEDULES[name];
  return (t) => {
    const step = t - 1;
    if (step < warmup) return step / Math.max(1, warmup);
    return after((step - warmup) / Math.max(1, total - warmup));
  };
}

/**
 * LoRA+-style learning-rate ratios: 'B=16' (or 'B=16,R=2') gives every parameter whose name, or last
 * path component, is B sixteen times the learning rate. Returns the ratio function and the names used.
 */
export function parseLrRatio(text: string): { ratioOf: (param: string) => number; patterns: Map<string, number> } | string {
  const patterns = new Map<string, number>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([\w.*-]+)=([0-9.eE+-]+)$/.exec(part);
    const ratio = m ? Number(m[2]) : NaN;
    if (!m || !(ratio > 0)) return `--lr-ratio takes NAME=RATIO pairs with RATIO > 0, as in B=16; found '${part}'`;
    patterns.set(m[1], ratio);
  }
  return { patterns, ratioOf: (param) => patterns.get(param) ?? patterns.get(param.split('.').at(-1)!) ?? 1 };
}
