// Strict reading of a safetensors header (browser-safe). Every read of a safetensors file goes
// through here, so a corrupt or hostile file is refused with a message naming the file and what is
// wrong — never a silent partial load. The rules follow the reference implementation
// (huggingface/safetensors `Metadata::validate`): header length within the file and below a limit,
// UTF-8 JSON object, known dtypes, shape × dtype size = byte length, offsets inside the data
// section, tensors tiling the data section exactly (no overlap, no gap, no trailing bytes).

export class SafetensorsError extends Error {}

/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte offsets inside the data section, [begin, end). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: TensorEntry[];
  metadata: Record<string, string>;
  /** Where the data section starts in the file. */
  dataStart: number;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** `dtypeBytes`: the dtypes the caller can read, with their element sizes. */
export function readHeader(bytes: Uint8Array, file: string, dtypeBytes: Record<string, number>): SafetensorsHeader {
  const bad = (why: string): never => {
    throw new SafetensorsError(`${file}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) bad(`only ${bytes.length} bytes (the header length alone takes 8)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) bad(`header length ${n64} is above the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (n > bytes.length - 8) bad(`header length ${n} exceeds the ${bytes.length - 8} bytes after it (truncated file?)`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return bad('the header is not UTF-8');
  }
  if (!text.startsWith('{')) bad(`the header does not start with '{'`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return bad(`the header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return bad('the header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info) || !Object.values(info).every((v) => typeof v === 'string'))
        bad('__metadata__ is not an object of strings');
      metadata = info as Record<string, string>;
      continue;
    }
    if (typeof info !== 'object' || info === null || Array.isArray(info)) return bad(`tensor '${name}': its entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(dtypeBytes, dtype)) bad(`tensor '${name}': unsupported dtype ${JSON.stringify(dtype)} (known: ${Object.keys(dtypeBytes).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every(isCount)) return bad(`tensor '${name}': shape ${JSON.stringify(shape)} is not a list of sizes`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1])
      return bad(`tensor '${name}': data_offsets ${JSON.stringify(offsets)} are not [begin, end] with begin ≤ end`);
    let size = dtypeBytes[dtype as string];
    for (const d of shape) size *= d;
    if (!Number.isSafeInteger(size)) bad(`tensor '${name}': shape [${shape}] is too large`);
    const [begin, end] = offsets as number[];
    if (end - begin !== size) bad(`tensor '${name}': shape [${shape}] ${dtype} needs ${size} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`);
    if (end > dataLength) bad(`tensor '${name}': data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data section (truncated file?)`);
    entries.push({ name, dtype: dtype as string, shape, begin, end });
  }
  // The tensors must tile the data section: sorted by offset, each starts where the last ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin < at) bad(`tensor '${e.name}' overlaps the tensor before it (bytes ${e.begin}–${at})`);
    if (e.begin > at) bad(`a gap of ${e.begin - at} unused bytes before tensor '${e.name}'`);
    at = e.end;
  }
  if (at !== dataLength) bad(`${dataLength - at} bytes after the last tensor (the header describes ${at} of ${dataLength} data bytes)`);
  return { entries, metadata, dataStart };
}
