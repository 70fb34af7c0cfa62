// Bytes a training step allocates as it warms up, and how many kernel functions its plan compiles to:
//   npx tsx bench/step-alloc.ts [paper-lily | paper-lora | vit-lily | vit-lora ...] [--at 18,31,60]
// For each program: its kernels, the distinct generated functions they share (`new Function` calls),
// then, after each count of steps in --at, the median of three measuring windows (bytes per step; a
// window with a garbage collection in it is retried, runtime/alloc-probe.ts). Until V8 has optimised
// a generated kernel it runs in the interpreter, which allocates a heap number for each double it
// computes: the figures fall as the kernels warm up. `npm run bench` measures the whole model after
// ~18 steps and the paper's shape after ~60.
import { readFileSync } from 'node:fs';
import { clearKernelFactories, kernelFactoriesCompiled } from '../compiler/codegen/cpu.ts';
import { checkSource } from '../compiler/frontend.ts';
import { bytesPerStep } from '../runtime/alloc-probe.ts';
import { cpuBackend } from '../runtime/backends/cpu-exec.ts';
import { compileTraining, type Trainer } from '../runtime/train.ts';
import { median } from './common.ts';
import { ourModelStep } from './model.ts';

const PAPER = { N: 1024, In: 768, Out: 768, r: 16, E: 4, alpha: 16 };

async function trainer(which: string): Promise<{ tr: Trainer; batch: { x: Float32Array; t: Float32Array } }> {
  if (which.startsWith('vit-')) {
    const m = await ourModelStep(which === 'vit-lora' ? 'LoRA' : 'Lily');
    return { tr: m.trainer, batch: m.batch };
  }
  const lora = which === 'paper-lora';
  const file = new URL(`../stdlib/adapters/${lora ? 'lora' : 'lily'}.lily`, import.meta.url).pathname;
  const tr = await compileTraining(checkSource(readFileSync(file, 'utf8'), file), lora ? 'LoRA' : 'Lily', { dims: PAPER, backend: cpuBackend(), params: 'random' });
  return { tr, batch: { x: new Float32Array(PAPER.N * PAPER.In).fill(0.5), t: new Float32Array(PAPER.N * PAPER.Out).fill(0.1) } };
}

const args = process.argv.slice(2);
const atFlag = args.indexOf('--at');
const marks = (atFlag >= 0 ? args[atFlag + 1]! : '18,31,60').split(',').map(Number);
const known = ['paper-lily', 'paper-lora', 'vit-lily', 'vit-lora'];
const which = args.filter((a, i) => i !== atFlag && i !== atFlag + 1);
for (const w of which) if (!known.includes(w)) throw new Error(`bench/step-alloc.ts: unknown program ${w} (one of ${known.join(', ')})`);

for (const w of which.length ? which : known) {
  clearKernelFactories(); // count this program's functions alone (the cache is per process)
  const f0 = kernelFactoriesCompiled();
  const { tr, batch } = await trainer(w);
  const functions = kernelFactoriesCompiled() - f0;
  const step = () => tr.stepSync!(batch);
  const calls = w.startsWith('vit-') ? 1 : 10; // as npm run bench measures them
  const figures: string[] = [];
  let done = 0;
  for (const m of marks) {
    for (; done < m; done++) step();
    const windows: number[] = [];
    for (let i = 0; i < 3; i++) {
      const b = await bytesPerStep(step, calls);
      if (b !== null) windows.push(b);
    }
    done += 3 * calls;
    figures.push(`after ${m} steps ${windows.length ? `${median(windows).toFixed(0)} B` : 'n/a (a GC in every window)'}`);
  }
  console.log(`${w}: ${tr.plan.kernels.length} kernels, ${functions} generated functions; bytes per step: ${figures.join(', ')}`);
  tr.dispose();
}
