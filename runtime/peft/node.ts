// PEFT folders and PyTorch weight files on disk (Node only): read, and write atomically.
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, type NamedTensor } from '../checkpoint/safetensors-codec.ts';
import { CONFIG_FILE, PeftFormatError, WEIGHTS_FILE } from './folder.ts';
import { packagePath } from '../package-path.ts';

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** The project's stdlib folder (beside runtime/). */
export const stdlibPath = (rel: string) => packagePath(`stdlib/${rel}`, import.meta.url);

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new PeftFormatError(`cannot read ${path}: ${codeOf(e)}`);
  }
}

/** A PEFT adapter folder: its parsed config and the weights file's bytes. */
export function readAdapterFolder(dir: string): { config: Record<string, unknown>; weights: Uint8Array; configFile: string; weightsFile: string } {
  if (!existsSync(dir)) throw new PeftFormatError(`${dir} does not exist (expected a folder with ${CONFIG_FILE} and ${WEIGHTS_FILE}, as PEFT's save_pretrained writes)`);
  if (!statSync(dir).isDirectory()) throw new PeftFormatError(`${dir} is not a folder (expected a folder with ${CONFIG_FILE} and ${WEIGHTS_FILE}, as PEFT's save_pretrained writes)`);
  const configFile = join(dir, CONFIG_FILE);
  const weightsFile = join(dir, WEIGHTS_FILE);
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder().decode(readBytes(configFile)));
  } catch (e) {
    if (e instanceof PeftFormatError) throw e;
    throw new PeftFormatError(`${configFile} is not valid JSON: ${(e as Error).message}`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new PeftFormatError(`${configFile} must hold a JSON object`);
  if (!existsSync(weightsFile) && existsSync(join(dir, 'adapter_model.bin')))
    throw new PeftFormatError(`${dir} holds adapter_model.bin (PyTorch pickle); Lily reads only safetensors — save with safe_serialization=True`);
  return { config: config as Record<string, unknown>, weights: readBytes(weightsFile), configFile, weightsFile };
}

/**
 * Check a --save folder before any work: creatable, a folder (not a file or device), and not holding
 * another adapter unless `overwrite`.
 */
export function checkSaveFolder(dir: string, overwrite: boolean): void {
  if (existsSync(dir)) {
    const st = statSync(dir);
    if (!st.isDirectory()) throw new PeftFormatError(`--save ${dir}: exists and is not a folder (an adapter is saved as a folder holding ${CONFIG_FILE} and ${WEIGHTS_FILE})`);
    if (!overwrite && (existsSync(join(dir, CONFIG_FILE)) || existsSync(join(dir, WEIGHTS_FILE))))
      throw new PeftFormatError(`--save ${dir}: the folder already holds an adapter; choose another folder or add --overwrite`);
    return;
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new PeftFormatError(`--save ${dir}: cannot create the folder: ${codeOf(e)}`);
  }
}

/** Write a file atomically: a temporary file beside it, fsync, rename (an interrupted save leaves the old file). */
export function writeAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      if (lstatSync(tmp)) unlinkSync(tmp);
    } catch {
      /* nothing left behind */
    }
    throw new PeftFormatError(`cannot write ${path}: ${codeOf(e)}`);
  }
}

export function writeAdapterFolder(dir: string, files: { weights: Uint8Array; config: string }): string {
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, WEIGHTS_FILE), files.weights);
  writeAtomic(join(dir, CONFIG_FILE), files.config);
  return dir;
}

/**
 * PyTorch weights: one safetensors file, or a folder with `model.safetensors` or a sharded
 * checkpoint (`model.safetensors.index.json` naming each tensor's shard).
 */
export function readWeights(path: string): { tensors: Map<string, NamedTensor>; metadata: Record<string, string>; files: string[] } {
  if (!existsSync(path)) throw new PeftFormatError(`${path} does not exist`);
  if (!statSync(path).isDirectory()) {
    const { tensors, metadata } = decodeSafetensors(readBytes(path), path);
    return { tensors, metadata, files: [path] };
  }
  const index = join(path, 'model.safetensors.index.json');
  if (existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = JSON.parse(new TextDecoder().decode(readBytes(index))).weight_map;
    } catch (e) {
      throw new PeftFormatError(`${index} is not valid JSON: ${(e as Error).message}`);
    }
    if (!map || typeof map !== 'object') throw new PeftFormatError(`${index} has no weight_map`);
    const tensors = new Map<string, NamedTensor>();
    const shards = [...new Set(Object.values(map))];
    for (const shard of shards) {
      if (shard.includes('/') || shard.includes('\\')) throw new PeftFormatError(`${index}: shard name '${shard}' must be a file in the same folder`);
      const file = join(path, shard);
      for (const [name, t] of decodeSafetensors(readBytes(file), file).tensors) if (map[name] === shard) tensors.set(name, t);
    }
    const absent = Object.keys(map).filter((n) => !tensors.has(n));
    if (absent.length) throw new PeftFormatError(`${index} lists tensors its shards do not hold: ${absent.slice(0, 5).join(', ')}`);
    return { tensors, metadata: {}, files: shards.map((s) => join(path, s)) };
  }
  const single = join(path, 'model.safetensors');
  if (existsSync(single)) return readWeights(single);
  throw new PeftFormatError(`${path} is a folder without model.safetensors or model.safetensors.index.json`);
}
