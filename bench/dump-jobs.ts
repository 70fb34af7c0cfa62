// The programs the compiler-output dumps cover (bench/ir-dump.ts, bench/kernel-dump.ts): every stdlib
// adapter at the paper's shape (with the sizes some adapters add) and the whole-model programs.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkSource } from '../compiler/frontend.ts';
import { MODEL_DIMS } from './model.ts';

const PAPER = { N: 1024, In: 768, Out: 768, r: 16, E: 4, n: 2, f: 2, rh: 16, P: 64 };

export interface DumpJob {
  file: string;
  unit: string;
  dims: Record<string, number>;
}

/** every job, or those whose unit `only` (a comma-separated list) names */
export function dumpJobs(only?: string): DumpJob[] {
  const jobs: DumpJob[] = [];
  const adapters = new URL('../stdlib/adapters/', import.meta.url);
  for (const f of readdirSync(adapters).filter((x) => x.endsWith('.lily')).sort()) {
    const file = fileURLToPath(new URL(f, adapters));
    for (const [unit, u] of checkSource(readFileSync(file, 'utf8'), file).units) if (u.decl.kind === 'adapter') jobs.push({ file, unit, dims: PAPER });
  }
  const model = fileURLToPath(new URL('./model/vit-small.lily', import.meta.url));
  jobs.push({ file: model, unit: 'ViTLily', dims: MODEL_DIMS }, { file: model, unit: 'ViTLoRA', dims: MODEL_DIMS });
  return only ? jobs.filter((j) => only.split(',').includes(j.unit)) : jobs;
}
