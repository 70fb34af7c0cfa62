// The fuzz corpus: well-typed seed programs (stdlib, examples), their mutants, and the command
// lines each mutant runs through — every command, with sizes and flag values that are sometimes odd.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mutateProgram } from './mutate.ts';
import type { Rand } from './rng.ts';

export interface Seed {
  file: string;
  source: string;
}

export function loadSeeds(root: string): Seed[] {
  const seeds: Seed[] = [];
  for (const dir of ['stdlib/adapters', 'stdlib/layers', 'examples'])
    for (const name of readdirSync(join(root, dir)).sort())
      if (name.endsWith('.lily')) seeds.push({ file: join(dir, name), source: readFileSync(join(root, dir, name), 'utf8') });
  return seeds;
}

export interface Mutant {
  id: number;
  seed: string;
  applied: string[];
  source: string;
}

export function makeMutant(id: number, seeds: Seed[], r: Rand): Mutant {
  const seed = r.pick(seeds);
  const { source, applied } = mutateProgram(seed.source, r, 1 + r.int(2));
  return { id, seed: seed.file, applied, source };
}

/** Declared units and fns (by a light scan: mutants need not parse). */
export function entryNames(source: string): { adapters: string[]; models: string[]; fns: string[] } {
  const names = (kw: string) => [...source.matchAll(new RegExp(`^\\s*${kw}\\s+([A-Za-z_]\\w*)`, 'gm'))].map((m) => m[1]);
  return { adapters: names('adapter'), models: names('model'), fns: names('fn') };
}

const ODD_SIZES = ['0', '-1', '3', '7', '1.5', '16384', '1e9'];

function dimsFor(kind: 'adapter' | 'model' | 'fn', r: Rand, forExplain: boolean): string {
  const base: Record<string, string> = kind === 'adapter' ? { N: '4', In: '8', Out: '8' } : { N: '4' };
  if (forExplain && kind === 'adapter' && r.chance(0.2)) Object.assign(base, { N: '16', In: '16384', Out: '16384' });
  if (r.chance(0.25)) base[r.pick(['N', 'In', 'Out', 'r', 'E', 'rh', 'L', 'H', 'D'])] = r.pick(ODD_SIZES);
  return Object.entries(base).map(([k, v]) => `${k}=${v}`).join(',');
}

/** Bad flag values a user might type; each command sometimes gets one. */
const BAD_FLAGS: Record<string, string[][]> = {
  compile: [['--seed', 'abc'], ['--dims', 'In=x'], ['--dims', 'In']],
  verify: [['--runs', '-1'], ['--runs', 'abc'], ['--max-dim', '0'], ['--seed', 'abc'], ['--max-dim', '100000']],
  run: [['--seed', 'abc'], ['--params', 'bogus'], ['--inputs', 'x=[[1,2]']],
  merge: [['--seed', '-1.5'], ['--params', 'bogus']],
  params: [['--layers', '0'], ['--layers', 'abc'], ['--layers', '-3']],
  train: [['--steps', '0'], ['--batch', 'abc'], ['--lr', 'nan'], ['--seed', 'abc'], ['--max-memory', '1KB']],
};

export function commandsFor(file: string, m: Mutant, r: Rand): string[][] {
  const { adapters, models, fns } = entryNames(m.source);
  const units = [...adapters.map((n) => ['adapter', n] as const), ...models.map((n) => ['model', n] as const)];
  const unit = units.length ? r.pick(units) : undefined;
  const entry = unit ?? (fns.length ? (['fn', r.pick(fns)] as const) : (['adapter', 'Missing'] as const));
  const [kind, name] = entry;
  const cmds: string[][] = [
    ['check', file],
    ['compile', file, '--adapter', name, '--dims', dimsFor(kind, r, true), '--explain'],
    ['verify', file, ...(unit ? ['--adapter', name] : []), '--runs', '3', '--max-dim', '3'],
    ['run', file, '--fn', name, '--dims', dimsFor(kind, r, false)],
    ['merge', file, '--adapter', name, '--dims', dimsFor(kind, r, false)],
    ['params', file, '--dims', dimsFor(kind, r, false)],
    ['train', file, '--adapter', name, '--steps', '3', '--batch', '4', '--backend', 'cpu', ...(kind === 'adapter' ? ['--dims', dimsFor(kind, r, false).replace(/(^|,)N=[^,]*/, '')] : [])],
  ];
  for (const c of cmds) {
    const bad = BAD_FLAGS[c[0]];
    if (bad && r.chance(0.08)) c.push(...r.pick(bad));
  }
  return cmds;
}
