// IDX files (the MNIST / Fashion-MNIST format): a magic number giving the element type and rank,
// the dimensions, then the data. Bad bytes get a clear error, never a crash. Browser-safe; idx.ts
// adds files and gzip from Node.
export class IdxError extends Error {}

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** `gunzip` decompresses gzipped bytes (Node's zlib, or the browser's own); without it they are refused. */
export function decodeIdx(bytes: Uint8Array, file = '<buffer>', gunzip?: (b: Uint8Array) => Uint8Array): IdxArray {
  const bad = (why: string): never => {
    throw new IdxError(`${file}: not a valid IDX file: ${why}`);
  };
  let raw = bytes;
  if (raw[0] === 0x1f && raw[1] === 0x8b) {
    if (!gunzip) bad('it is gzipped; decompress it first');
    try {
      raw = gunzip!(raw);
    } catch (e) {
      bad(`gzip data is corrupt (${(e as Error).message})`);
    }
  }
  if (raw.length < 4) bad(`only ${raw.length} bytes`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dv.getUint16(0) !== 0) bad('the magic number does not start with two zero bytes');
  if (raw[2] !== 0x08) bad(`element type 0x${raw[2].toString(16)} is not unsigned bytes (0x08)`);
  const rank = raw[3];
  if (rank < 1 || raw.length < 4 + 4 * rank) bad(`rank ${rank} with a ${raw.length}-byte file`);
  const shape = Array.from({ length: rank }, (_, i) => dv.getUint32(4 + 4 * i));
  const n = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * rank;
  if (raw.length - start !== n) bad(`dimensions [${shape}] need ${n} bytes of data, the file has ${raw.length - start}`);
  return { shape, data: raw.subarray(start) };
}

export function encodeIdx(a: IdxArray): Uint8Array {
  const out = new Uint8Array(4 + 4 * a.shape.length + a.data.length);
  const dv = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = a.shape.length;
  a.shape.forEach((d, i) => dv.setUint32(4 + 4 * i, d));
  out.set(a.data, 4 + 4 * a.shape.length);
  return out;
}
