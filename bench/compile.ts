// Compile time: every stdlib adapter (check + compile to the training step + kernel plan + prepare
// on the CPU backend) at the paper's shape, and the whole-model program (bench/model/vit-small.lily).
//   npx tsx bench/compile.ts [--json]
// The index benchmark (`npm run bench`) runs the same measurement. Each figure is the median of a
// few fresh compiles in this process (the first, which also warms the compiler's own code, is dropped).
import { readdirSync, readFileSync } from 'node:fs';
import { checkSource } from '../compiler/frontend.ts';
import { cpuBackend } from '../runtime/backends/cpu-exec.ts';
import { compileTraining } from '../runtime/train.ts';
import { benchFlags, median } from './common.ts';
import { MODEL_DIMS } from './model.ts';

const PAPER = { N: 1024, In: 768, Out: 768, r: 16, E: 4 };
/** extra sizes some adapters need (their own Dim parameters) */
const EXTRA = { n: 2, f: 2, rh: 16, P: 64 };

async function timeCompile(file: string, unit: string, dims: Record<string, number>, reps: number): Promise<number> {
  const src = readFileSync(file, 'utf8');
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const checked = checkSource(src, file);
    const tr = await compileTraining(checked, unit, { dims, backend: cpuBackend() });
    const dt = performance.now() - t0;
    tr.dispose();
    if (i > 0) times.push(dt);
  }
  return median(times);
}

export interface CompileTimes {
  adapters: Record<string, number>;
  adapters_max_ms: number;
  model_ms: number;
}

export async function compileTimes(reps = 3, log: (s: string) => void = () => {}): Promise<CompileTimes> {
  const dir = new URL('../stdlib/adapters/', import.meta.url);
  const adapters: Record<string, number> = {};
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.lily')).sort()) {
    const file = new URL(f, dir).pathname;
    const checked = checkSource(readFileSync(file, 'utf8'), file);
    for (const [name, u] of checked.units) {
      if (u.decl.kind !== 'adapter') continue;
      try {
        adapters[name] = await timeCompile(file, name, { ...PAPER, ...EXTRA }, reps);
      } catch (e) {
        log(`   ${name}: not compiled at the paper's shape (${(e as Error).message.split('\n')[0]})`);
      }
    }
  }
  const model = new URL('./model/vit-small.lily', import.meta.url).pathname;
  const model_ms = await timeCompile(model, 'ViTLily', MODEL_DIMS, Math.max(1, reps - 1));
  return { adapters, adapters_max_ms: Math.max(...Object.values(adapters)), model_ms };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { json, log } = benchFlags();
  const r = await compileTimes(3, log);
  if (json) console.log(JSON.stringify(r, null, 2));
  else {
    for (const [k, v] of Object.entries(r.adapters)) log(`${k.padEnd(14)} ${v.toFixed(0)} ms`);
    log(`slowest adapter ${r.adapters_max_ms.toFixed(0)} ms; whole model (ViT-small-like, Lily on q, v) ${r.model_ms.toFixed(0)} ms`);
  }
  process.exit(0);
}
