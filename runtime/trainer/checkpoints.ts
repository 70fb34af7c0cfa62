// Checkpoints as folders (Node-only). `--save DIR` holds
//   DIR/checkpoint-<step>/   one per save: the adapter as a PEFT folder (adapter_model.safetensors +
//                            adapter_config.json), optimizer.safetensors (the moments, by our leaf
//                            names m:A, v:A) and trainer_state.json (step, data position, seed,
//                            hyper-parameters, program hash, the loss the state gives);
//   DIR/adapter_model.safetensors, DIR/adapter_config.json   the latest checkpoint's adapter, so DIR
//                            is itself a PEFT adapter folder.
// Each checkpoint folder is written atomically (temp folder, fsync, rename) and never overwritten;
// only states that give a finite loss below the divergence threshold are written (see loop.ts).
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors, saveSafetensors, SafetensorsError } from '../checkpoint/safetensors.ts';
import { expectTensors } from '../checkpoint/expect-tensors.ts';
import { fsyncDir, removeStaleTemps, writeFileAtomic, writeFileSynced, writeFolderAtomic } from './durable.ts';

export class CheckpointError extends Error {}

export const ADAPTER_FILES = ['adapter_model.safetensors', 'adapter_config.json'];
const STATE_FILE = 'trainer_state.json';
const MOMENTS_FILE = 'optimizer.safetensors';
const FORMAT = 'lily-trainer-state';

/** What besides the tensors a run needs to continue exactly. */
export interface TrainerStateFile {
  format: typeof FORMAT;
  version: 1;
  /** Steps taken. The data position follows from it: batch i is a pure function of (seed, i). */
  step: number;
  /** Hash of the program, entry and dims: resuming into another program is an error. */
  programHash: string;
  /** Settings that change the trajectory (lr, optimiser, batch, seed, data, …); must match on resume. */
  hyper: Record<string, string | number | boolean | null>;
  /** The loss of the first step of the run (the divergence threshold is relative to it). */
  initialLoss: number;
  /** The loss this state gives on the next batch (checked finite before writing). */
  loss: number;
}

/** Reads and writes the adapter part of a checkpoint folder (PEFT's layout): the CLI supplies it. */
export interface AdapterFiles {
  write(dir: string, params: Map<string, { shape: number[]; data: Float32Array }>): void;
  read(dir: string): Map<string, { shape: number[]; data: Float64Array | Float32Array }>;
}

const isMoment = (name: string) => /^[mv]:/.test(name);
export const checkpointName = (step: number) => `checkpoint-${step}`;

/** Write checkpoint-<step> atomically, point DIR's adapter files at it, drop all but the newest `keep`. */
export function writeCheckpoint(
  root: string,
  opts: { state: Map<string, { shape: number[]; data: Float32Array }>; trainer: TrainerStateFile; adapter: AdapterFiles; keep: number },
): string {
  const dir = join(root, checkpointName(opts.trainer.step));
  const params = new Map([...opts.state].filter(([n]) => !isMoment(n)));
  const moments = new Map([...opts.state].filter(([n]) => isMoment(n)));
  writeFolderAtomic(dir, (tmp) => {
    opts.adapter.write(tmp, params);
    saveSafetensors(join(tmp, MOMENTS_FILE), moments, { format: 'lily' });
    writeFileSynced(join(tmp, STATE_FILE), `${JSON.stringify(opts.trainer, null, 2)}\n`);
  });
  for (const f of ADAPTER_FILES) writeFileAtomic(join(root, f), readFileSync(join(dir, f)));
  prune(root, opts.keep);
  return dir;
}

/** Checkpoint folders under root, oldest first (complete ones only: a temp folder has another name). */
export function listCheckpoints(root: string): { step: number; dir: string }[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => ({ name, m: /^checkpoint-(\d+)$/.exec(name) }))
    .filter(({ m }) => m)
    .map(({ name, m }) => ({ step: Number(m![1]), dir: join(root, name) }))
    .sort((a, b) => a.step - b.step);
}

function prune(root: string, keep: number) {
  const all = listCheckpoints(root);
  for (const { dir } of all.slice(0, Math.max(0, all.length - keep))) rmSync(dir, { recursive: true, force: true });
  fsyncDir(root);
}

/** Before a run writes into root: remove what killed writers left behind. */
export const cleanSaveRoot = (root: string) => removeStaleTemps(root);

/** A checkpoint folder, or a --save root (its newest checkpoint). */
export function resolveCheckpoint(path: string): string {
  if (existsSync(join(path, STATE_FILE))) return path;
  const newest = listCheckpoints(path).at(-1);
  if (!newest) throw new CheckpointError(`${path}: no checkpoint here (expected ${STATE_FILE}, or checkpoint-<step> folders written by lily train --save)`);
  return newest.dir;
}

/**
 * Load a checkpoint to continue from: the trainer state, checked against this run's program and
 * settings, and every parameter and moment the trainer updates (missing or unknown ones are errors).
 */
export function readCheckpoint(
  path: string,
  opts: { adapter: AdapterFiles; expected: Map<string, number[]>; programHash: string; hyper: TrainerStateFile['hyper'] },
): { trainer: TrainerStateFile; state: Map<string, { data: Float32Array }> } {
  const dir = resolveCheckpoint(path);
  const stateFile = join(dir, STATE_FILE);
  let trainer: TrainerStateFile;
  try {
    trainer = JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${stateFile}: cannot read the trainer state (${(e as Error).message})`);
  }
  const valid =
    trainer?.format === FORMAT &&
    trainer.version === 1 &&
    Number.isSafeInteger(trainer.step) &&
    trainer.step >= 0 &&
    typeof trainer.programHash === 'string' &&
    typeof trainer.hyper === 'object' &&
    trainer.hyper !== null &&
    Number.isFinite(trainer.initialLoss) &&
    Number.isFinite(trainer.loss);
  if (!valid) throw new CheckpointError(`${stateFile}: not a lily trainer state (format ${FORMAT}, version 1)`);
  if (trainer.programHash !== opts.programHash)
    throw new CheckpointError(`${dir} was written by a different program (or entry, or --dims): resuming it here would not continue that run`);
  const changed = Object.keys({ ...trainer.hyper, ...opts.hyper }).filter((k) => trainer.hyper[k] !== opts.hyper[k]);
  if (changed.length)
    throw new CheckpointError(`${dir} was trained with other settings: ${changed.map((k) => `${k} ${JSON.stringify(trainer.hyper[k])} (now ${JSON.stringify(opts.hyper[k])})`).join(', ')}; give the same ones to continue exactly`);
  const state = new Map<string, { shape: number[]; data: Float32Array }>();
  try {
    for (const [n, t] of opts.adapter.read(dir)) state.set(n, { shape: t.shape, data: Float32Array.from(t.data) });
    for (const [n, t] of loadSafetensors(join(dir, MOMENTS_FILE)).tensors) state.set(n, { shape: t.shape, data: Float32Array.from(t.data) });
    expectTensors(dir, state, opts.expected);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new CheckpointError(e.message);
    throw e;
  }
  return { trainer, state };
}
