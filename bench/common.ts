// What the benchmark scripts share: flags, quiet-in-JSON logging, the GEMM shapes of a LoRA-family
// step at the paper's size, medians.
export function benchFlags(argv = process.argv.slice(2)) {
  const flags = new Set(argv);
  const json = flags.has('--json');
  return {
    json,
    quick: flags.has('--quick'),
    has: (f: string) => flags.has(f),
    /** Progress and tables go to stdout, or nowhere with --json (stdout is then the JSON). */
    log: (...s: unknown[]) => {
      if (!json) console.log(...s);
    },
  };
}

/** The matmuls of a step at N=1024, In=Out=768, r=16: x·A, h·B, the Xᵀ·G gradient form, and the frozen base. */
export const GEMM_SHAPES = [
  { name: '1024x768@768x16', M: 1024, K: 768, N: 16, transA: false },
  { name: '1024x16@16x768', M: 1024, K: 16, N: 768, transA: false },
  { name: '(1024x768)T@1024x16', M: 768, K: 1024, N: 16, transA: true },
  { name: '1024x768@768x768', M: 1024, K: 768, N: 768, transA: false },
];

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
