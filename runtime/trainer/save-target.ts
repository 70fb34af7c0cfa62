// Check a --save folder before step 1, so a run is never lost to a bad path found at the end: it
// must be a folder (or creatable as one), writable, and not a device or a symlink to one.
import { lstatSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TEMP_MARK } from './durable.ts';

/** Returns undefined when `dir` is usable (creating it if needed), else why not. */
export function checkSaveTarget(dir: string): string | undefined {
  let link;
  try {
    link = lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return `cannot use ${dir}: ${(e as NodeJS.ErrnoException).code}`;
  }
  if (link) {
    let target;
    try {
      target = statSync(dir);
    } catch {
      return `${dir} is a broken symbolic link`;
    }
    const via = link.isSymbolicLink() ? ' (through a symbolic link)' : '';
    if (target.isCharacterDevice() || target.isBlockDevice()) return `${dir} is a device${via}, not a folder`;
    if (!target.isDirectory()) return `${dir} exists and is not a folder${via}`;
  } else {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      return `cannot create the folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
  }
  // Permissions alone do not tell (root ignores them; a read-only mount does not): write a probe.
  const probe = join(dir, `.probe${TEMP_MARK}${process.pid}`);
  try {
    writeFileSync(probe, 'lily');
  } catch (e) {
    return `cannot write in ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  } finally {
    rmSync(probe, { force: true });
  }
  return undefined;
}
