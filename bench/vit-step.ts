// Training-step time of PEFT methods on the stdlib ViT at one parameter budget, measured side by
// side: every method compiled first, then their steps interleaved round by round (so machine load
// hits all alike), medians per method and each one's ratio to LoRA.
//   npx tsx bench/vit-step.ts [--json] [--quick]
import { prepareMethod, parseMethod } from '../compiler/cli/compare/methods.ts';
import { compileTraining, type Trainer } from '../runtime/train.ts';
import { resolveBackend } from '../runtime/backends/select.ts';
import { benchFlags, median } from './common.ts';

const flags = benchFlags();
const METHODS = ['lora', 'lily', 'moslora', 'linear-probe', 'full'];
const N = 25;
const BUDGET = 4800;
const rounds = flags.quick ? 10 : 40;

const { backend } = await resolveBackend('cpu');
const model = { file: 'stdlib/models/vit.lily', model: 'ViT', base: 'examples/models/vit.safetensors', targets: 'q,v', head: 'head' };
const trainers: { name: string; trainable: number; trainer: Trainer; times: number[] }[] = [];
for (const name of METHODS) {
  const p = prepareMethod(parseMethod(name), model, BUDGET);
  const trainer = await compileTraining(p.setup.checked, p.setup.entry, { dims: { ...p.setup.settings, N }, backend, given: p.setup.given, attach: p.attach, trainable: p.trainable, loss: 'xent', seed: 0 });
  trainers.push({ name, trainable: p.trainableParams, trainer, times: [] });
}
const x = Float32Array.from({ length: N * 784 }, (_, i) => ((i * 7919) % 255) / 255);
const t = new Float32Array(N * 10);
for (let n = 0; n < N; n++) t[n * 10 + (n % 10)] = 1;
for (let r = 0; r < rounds + 2; r++)
  for (const m of trainers) {
    const t0 = performance.now();
    await m.trainer.step({ x, t });
    if (r >= 2) m.times.push(performance.now() - t0); // two warm-up rounds
  }
const lora = median(trainers[0].times);
const rows = trainers.map((m) => ({ method: m.name, trainable: m.trainable, msPerStep: median(m.times), vsLoRA: median(m.times) / lora, mflop: (m.trainer.flops.forward + m.trainer.flops.backward) / 1e6 }));
for (const m of trainers) m.trainer.dispose();
if (flags.json) console.log(JSON.stringify({ batch: N, budget: BUDGET, rounds, rows }));
else {
  flags.log(`ViT training step, batch ${N}, budget ${BUDGET}, ${rounds} interleaved rounds (CPU backend):`);
  for (const r of rows) flags.log(`  ${r.method.padEnd(13)} ${String(r.trainable).padStart(6)} trainable  ${r.mflop.toFixed(0).padStart(4)} MFLOP  ${r.msPerStep.toFixed(1).padStart(7)} ms/step  ${r.vsLoRA.toFixed(2)}× LoRA`);
}
