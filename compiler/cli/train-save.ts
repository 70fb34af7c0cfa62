// Where lily train --save puts checkpoints and the files a user reads, checked before step 1.
// Adapters: the --save folder holds checkpoint-<step>/ folders and, beside them, the newest adapter
// as PEFT's save_pretrained writes it. A plain model: its state dict FILE.safetensors (or
// DIR/model.safetensors), with checkpoints in FILE-checkpoints/ (or DIR).
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fail } from '../diagnostics.ts';
import { encodeAdapterFolder } from '../../runtime/peft/folder.ts';
import { CONFIG_FILE, WEIGHTS_FILE } from '../../runtime/peft/folder.ts';
import type { Dense } from '../../runtime/peft/layouts.ts';
import { checkSaveTarget } from '../../runtime/trainer/save-target.ts';
import { cleanSaveRoot, listCheckpoints, type UserFiles } from '../../runtime/trainer/checkpoints.ts';
import { writeFileSynced } from '../../runtime/trainer/durable.ts';
import { asUserError, type ModelSetup } from './model-setup.ts';
import { writeStateDict } from './save.ts';

const STATE_DICT = 'model.safetensors';

export interface SavePlan {
  /** The folder that holds checkpoint-<step>/ folders. */
  root: string;
  /** The user's files for a state: `value(leaf)` gives trained parameters, else frozen weights. */
  files(value: (leaf: string) => Dense | undefined): UserFiles;
  /** What a checkpoint folder holds, for the final message. */
  describe(dir: string): string;
}

const inside = (path: string, root: string) => !relative(resolve(root), resolve(path)).startsWith('..');

export function prepareCheckpoints(target: string, setup: ModelSetup, o: { overwrite: boolean; resumingFrom?: string }): SavePlan {
  const adapters = setup.record.adapted.length > 0;
  if (adapters && target.endsWith('.safetensors')) fail('E-usage', `--save takes a folder for adapters (PEFT's layout: ${WEIGHTS_FILE} + ${CONFIG_FILE}), found '${target}'`);
  const stateDict = adapters ? undefined : target.endsWith('.safetensors') ? target : join(target, STATE_DICT);
  const root = stateDict && target.endsWith('.safetensors') ? `${target.slice(0, -'.safetensors'.length)}-checkpoints` : target;
  for (const dir of stateDict ? [dirname(stateDict), root] : [root]) {
    const why = checkSaveTarget(dir);
    if (why) fail('E-file', `--save: ${why}`);
  }
  cleanSaveRoot(root);
  // Continuing a run in its own folder is the normal case; anything else must not mix with an
  // earlier run's files unless the user says so.
  const resuming = o.resumingFrom !== undefined && inside(o.resumingFrom, root);
  const existing = listCheckpoints(root);
  const resumedStep = resuming ? Number(/checkpoint-(\d+)$/.exec(resolve(o.resumingFrom!))?.[1] ?? existing.at(-1)?.step ?? 0) : 0;
  const later = existing.filter((c) => c.step > resumedStep);
  const held = adapters ? existsSync(join(root, WEIGHTS_FILE)) || existsSync(join(root, CONFIG_FILE)) : false;
  if (!o.overwrite && ((held && !resuming) || (existing.length && !resuming)))
    fail('E-usage', `--save ${target}: the folder already holds ${held ? 'an adapter' : 'checkpoints'}${held && existing.length ? ' and checkpoints' : ''} of another run; choose another folder, continue it with --resume ${target}, or add --overwrite`);
  if (!o.overwrite && resuming && later.length)
    fail('E-usage', `--save ${target}: it has checkpoints after step ${resumedStep} (${later.map((c) => c.step).join(', ')}); continuing from an earlier one would replace them: --save elsewhere, or add --overwrite`);
  if (o.overwrite) for (const c of resuming ? later : existing) rmSync(c.dir, { recursive: true, force: true });

  const files = (value: (leaf: string) => Dense | undefined): UserFiles => {
    const get = (leaf: string) => value(leaf) ?? setup.value(leaf);
    if (adapters)
      return {
        write: (dir, params) => {
          const folder = asUserError(() => encodeAdapterFolder(setup.spec!, setup.record.adapted, (leaf) => params.get(leaf) ?? get(leaf)));
          writeFileSynced(join(dir, WEIGHTS_FILE), folder.weights);
          writeFileSynced(join(dir, CONFIG_FILE), folder.config);
        },
        publish: [WEIGHTS_FILE, CONFIG_FILE].map((file) => ({ file, to: join(root, file) })),
      };
    return {
      write: (dir, params) => void writeStateDict(join(dir, STATE_DICT), setup.record.weights, (leaf) => params.get(leaf) ?? get(leaf)),
      publish: [{ file: STATE_DICT, to: stateDict! }],
    };
  };
  const describe = (dir: string) =>
    adapters ? `${root} (${setup.spec!.method ? `PEFT ${setup.spec!.method.peftType}` : 'Lily program'} adapter; checkpoint ${dir})` : `${stateDict} (PyTorch state dict; checkpoint ${dir})`;
  return { root, files, describe };
}
