// IDX files (the MNIST / Fashion-MNIST format) from disk, gzipped or not; the format itself is in
// idx-format.ts (browser-safe). Bad files get a clear error, never a crash.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { decodeIdx as decodeBytes, IdxError, type IdxArray } from './idx-format.ts';

export { encodeIdx, IdxError, type IdxArray } from './idx-format.ts';

export function decodeIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  return decodeBytes(bytes, file, gunzipSync);
}

export function loadIdx(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new IdxError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodeIdx(bytes, path);
}
