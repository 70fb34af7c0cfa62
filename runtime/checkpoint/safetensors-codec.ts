// safetensors (https://github.com/huggingface/safetensors) read and write: an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw little-endian data.
// Written by hand: the format is a page long, and no maintained npm package reads and writes local
// files without pulling a hub client. Writes F32 (what Lily trains in) and F64 (float64 results);
// reads F32, F64, F16 and BF16 (F16/BF16 widened to float32, F64 kept as float64). Browser-safe: the
// file reading and writing is in safetensors.ts.

export interface NamedTensor {
  shape: number[];
  /** Float64Array for F64 tensors (read or written as such), Float32Array otherwise. */
  data: Float32Array | Float64Array;
}

export class SafetensorsError extends Error {}

export function encodeSafetensors(tensors: Map<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new SafetensorsError(`tensor '${name}': shape [${t.shape}] needs ${n} values, has ${t.data.length}`);
    const bytes = t.data.BYTES_PER_ELEMENT;
    header[name] = { dtype: bytes === 8 ? 'F64' : 'F32', shape: t.shape, data_offsets: [offset, offset + bytes * n] };
    offset += bytes * n;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' '; // align the data section to 8 bytes
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let pos = 8 + head.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    const bytes = t.data.BYTES_PER_ELEMENT;
    const view = new DataView(out.buffer, pos, bytes * t.data.length);
    if (bytes === 8) t.data.forEach((v, i) => view.setFloat64(8 * i, v, true));
    else t.data.forEach((v, i) => view.setFloat32(4 * i, v, true));
    pos += bytes * t.data.length;
  }
  return out;
}

const DTYPES: Record<string, { bytes: number; read: (dv: DataView, at: number) => number }> = {
  F32: { bytes: 4, read: (dv, at) => dv.getFloat32(at, true) },
  F64: { bytes: 8, read: (dv, at) => dv.getFloat64(at, true) },
  F16: { bytes: 2, read: (dv, at) => half(dv.getUint16(at, true)) },
  BF16: { bytes: 2, read: (dv, at) => new Float32Array(new Uint32Array([dv.getUint16(at, true) << 16]).buffer)[0] },
};

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export function decodeSafetensors(bytes: Uint8Array, file = '<buffer>'): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const bad = (why: string): never => {
    throw new SafetensorsError(`${file}: not a valid safetensors file: ${why}`);
  };
  if (bytes.length < 8) bad(`only ${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n > bytes.length - 8) bad(`header length ${n} exceeds the file size ${bytes.length}`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch {
    return bad('the header is not JSON');
  }
  const base = 8 + n;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const d = DTYPES[dtype] ?? bad(`tensor '${name}' has unsupported dtype ${dtype}`);
    if (!Array.isArray(shape) || !Array.isArray(data_offsets)) bad(`tensor '${name}' lacks shape or data_offsets`);
    const count = shape.reduce((a, b) => a * b, 1);
    const [b0, b1] = data_offsets;
    if (b1 - b0 !== count * d.bytes || base + b1 > bytes.length || b0 < 0) bad(`tensor '${name}': data_offsets [${b0}, ${b1}] do not fit shape [${shape}] ${dtype} in the file`);
    const data = dtype === 'F64' ? new Float64Array(count) : new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = d.read(dv, base + b0 + i * d.bytes);
    tensors.set(name, { shape, data });
  }
  return { tensors, metadata };
}

