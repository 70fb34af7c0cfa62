// Checkpoints as folders (Node-only). A checkpoint root (the --save folder) holds
//   checkpoint-<step>/   one per save: the user's files (the adapter as a PEFT folder, or a plain
//                        model's state dict), trainer_state.safetensors (every value a step updates —
//                        parameters and optimiser moments m:A, v:A — by leaf path, float32 exactly as
//                        trained) and trainer_state.json (step, seed, hyper-parameters, program hash,
//                        the loss the state gives);
// and the newest checkpoint's user files are copied where the user expects them (the --save folder
// itself is then a PEFT adapter folder). Each checkpoint folder is written atomically (temp folder,
// fsync, rename); only states that give a finite loss below the divergence threshold are written
// (see loop.ts), so a good checkpoint is never replaced by a worse state.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, loadSafetensors, SafetensorsError } from '../checkpoint/safetensors.ts';
import { expectTensors } from '../checkpoint/expect-tensors.ts';
import { fsyncDir, removeStaleTemps, writeFileAtomic, writeFileSynced, writeFolderAtomic } from './durable.ts';

export class CheckpointError extends Error {}

export const STATE_FILE = 'trainer_state.json';
const TENSORS_FILE = 'trainer_state.safetensors';
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

/** The files a user reads (a PEFT folder, a state dict): the CLI supplies how to write them. */
export interface UserFiles {
  /** Write them into `dir` for these parameter values. */
  write(dir: string, params: Map<string, { shape: number[]; data: Float32Array }>): void;
  /** After each checkpoint, copy these files of it (by name) to these paths, atomically. */
  publish: { file: string; to: string }[];
}

const isMoment = (name: string) => /^[mv]:/.test(name);
export const checkpointName = (step: number) => `checkpoint-${step}`;

/** Write checkpoint-<step> atomically, publish its user files, drop all but the newest `keep`. */
export function writeCheckpoint(
  root: string,
  opts: { state: Map<string, { shape: number[]; data: Float32Array }>; trainer: TrainerStateFile; files: UserFiles; keep: number },
): string {
  const dir = join(root, checkpointName(opts.trainer.step));
  const params = new Map([...opts.state].filter(([n]) => !isMoment(n)));
  writeFolderAtomic(dir, (tmp) => {
    opts.files.write(tmp, params);
    writeFileSynced(join(tmp, TENSORS_FILE), encodeSafetensors(opts.state, { format: 'lily-trainer-state' }));
    writeFileSynced(join(tmp, STATE_FILE), `${JSON.stringify(opts.trainer, null, 2)}\n`);
  });
  for (const { file, to } of opts.files.publish) writeFileAtomic(to, readFileSync(join(dir, file)));
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

/** A checkpoint folder, or a --save root (its newest checkpoint); undefined if neither. */
export function findCheckpoint(path: string): string | undefined {
  if (existsSync(join(path, STATE_FILE))) return path;
  return listCheckpoints(path).at(-1)?.dir;
}

/**
 * Load a checkpoint to continue from: the trainer state, checked against this run's program and
 * settings, and every parameter and moment the trainer updates (missing or unknown ones are errors).
 */
export function readCheckpoint(
  path: string,
  opts: { expected: Map<string, number[]>; programHash: string; hyper: TrainerStateFile['hyper'] },
): { trainer: TrainerStateFile; state: Map<string, { data: Float32Array }>; dir: string } {
  const dir = findCheckpoint(path);
  if (!dir) throw new CheckpointError(`${path}: no checkpoint here (expected ${STATE_FILE}, or checkpoint-<step> folders written by lily train --save)`);
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
    for (const [n, t] of loadSafetensors(join(dir, TENSORS_FILE)).tensors) state.set(n, { shape: t.shape, data: Float32Array.from(t.data) });
    expectTensors(dir, state, opts.expected);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new CheckpointError(e.message);
    throw e;
  }
  return { trainer, state, dir };
}
