// The compiler's output, written out for byte-for-byte comparison across a change meant to keep it
// (a compile-time optimisation): for every stdlib adapter at the paper's shape and the whole-model
// program, the final IR of the training step and of the plain VJP, the rewrite log (contraction
// orders with their FLOPs, layouts), and a digest of every initial value.
//   npx tsx bench/ir-dump.ts DIR [UNIT,UNIT…]     then: diff -r DIR_BEFORE DIR_AFTER
// Paths in the log are written relative to the repository, so two checkouts compare equal.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkSource } from '../compiler/frontend.ts';
import { compile } from '../compiler/pipeline.ts';
import { printGraph } from '../compiler/ir/print.ts';
import { DEFAULT_ADAMW } from '../compiler/objective.ts';
import { dumpJobs } from './dump-jobs.ts';

const [dir, only] = process.argv.slice(2);
if (!dir) {
  console.error('usage: npx tsx bench/ir-dump.ts DIR [UNIT,UNIT…]');
  process.exit(1);
}
mkdirSync(dir, { recursive: true });
const root = fileURLToPath(new URL('../', import.meta.url));

const jobs = dumpJobs(only);

for (const { file, unit, dims } of jobs) {
  const checked = checkSource(readFileSync(file, 'utf8'), file);
  for (const mode of ['train', 'vjp'] as const) {
    let text: string;
    try {
      const p = compile(checked, unit, mode === 'train' ? { settings: dims, seed: 0, objective: { loss: 'mse', optimizer: DEFAULT_ADAMW } } : { settings: dims, params: 'shapes' });
      const log = p.log.map((e) => JSON.stringify(e).replaceAll(root, '')).join('\n');
      const values = mode === 'vjp' ? [] : [...p.leaves].map(([name, t]) => `${name} [${t.shape}] ${t.data ? createHash('sha256').update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).digest('hex') : '(shape only)'}`);
      text = `${printGraph(p.graph)}\n--- log\n${log}\n--- values\n${values.join('\n')}\n`;
    } catch (e) {
      text = `error: ${(e as Error).message}\n`;
    }
    writeFileSync(`${dir}/${unit}.${mode}.txt`, text);
    console.log(`${unit} ${mode}`);
  }
}
