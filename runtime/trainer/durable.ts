// Durable, atomic file-system writes (Node-only): a reader sees the old state or the new one, never
// a half-written file or folder, even after kill -9 or a power cut. Recipe: write to a temp name in
// the same folder, fsync it, rename it into place, fsync the folder (so the rename itself is on disk).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Temp names carry this marker and the writer's pid, so leftovers of a killed writer can be found. */
export const TEMP_MARK = '.tmp-';

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export const fsyncDir = (dir: string) => fsyncPath(dir, 'r');

function writeDurable(path: string, bytes: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    for (let at = 0; at < data.length; ) at += writeSync(fd, data, at); // a write may be partial
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replace `path` atomically with `bytes`. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}${TEMP_MARK}${process.pid}`);
  try {
    writeDurable(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dirname(path));
}

/**
 * Create folder `path` atomically: `fill(tmp)` writes its files into a temp folder, which is then
 * synced and renamed into place. An existing folder of that name (a resumed run reaching the same
 * step again) is moved aside first and removed only once the new one is in place.
 */
export function writeFolderAtomic(path: string, fill: (tmp: string) => void): void {
  const tmp = join(dirname(path), `.${basename(path)}${TEMP_MARK}${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    fill(tmp);
    for (const f of readdirSync(tmp)) fsyncPath(join(tmp, f), 'r');
    fsyncDir(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const old = join(dirname(path), `.${basename(path)}.old${TEMP_MARK}${process.pid}`);
  const replacing = existsSync(path);
  if (replacing) renameSync(path, old);
  renameSync(tmp, path);
  fsyncDir(dirname(path));
  if (replacing) rmSync(old, { recursive: true, force: true });
}

/** A writer's file, fsynced (inside a folder that writeFolderAtomic renames into place). */
export const writeFileSynced = writeDurable;

/** Remove temp files and folders left in `dir` by writers that are no longer running. */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const at = name.lastIndexOf(TEMP_MARK);
    if (at < 0) continue;
    const pid = Number(name.slice(at + TEMP_MARK.length));
    if (Number.isInteger(pid) && pid !== process.pid && alive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
