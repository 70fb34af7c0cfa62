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

import { readHeader, SafetensorsError } from './safetensors-header.ts';

export { SafetensorsError };

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

const DTYPE_BYTES = Object.fromEntries(Object.entries(DTYPES).map(([k, d]) => [k, d.bytes]));

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/**
 * Decode a whole file strictly (readHeader's rules: safetensors-header.ts), refusing NaN/Inf values
 * with the tensor's name: a checkpoint or weight file that holds them is not a state to continue from.
 */
export function decodeSafetensors(bytes: Uint8Array, file = '<buffer>'): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const { entries, metadata, dataStart } = readHeader(bytes, file, DTYPE_BYTES);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tensors = new Map<string, NamedTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    const d = DTYPES[dtype];
    const count = (end - begin) / d.bytes;
    const data = dtype === 'F64' ? new Float64Array(count) : new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const v = d.read(dv, dataStart + begin + i * d.bytes);
      if (!Number.isFinite(v)) throw new SafetensorsError(`${file}: tensor '${name}' holds ${v} at index ${i}: refusing a non-finite value`);
      data[i] = v;
    }
    tensors.set(name, { shape, data });
  }
  return { tensors, metadata };
}
