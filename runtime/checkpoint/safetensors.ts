// safetensors (https://github.com/huggingface/safetensors) read and write: an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw little-endian data.
// Written by hand: the format is a page long, and no maintained npm package reads and writes local
// files without pulling a hub client. F32 only (what Lily trains in); F16/BF16/F64 are read.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { readHeader } from './safetensors-header.ts';

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
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
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
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
    const view = new DataView(out.buffer, pos, 4 * t.data.length);
    t.data.forEach((v, i) => view.setFloat32(4 * i, v, true));
    pos += 4 * t.data.length;
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

/**
 * Decode a whole file strictly (readHeader's rules), refusing NaN/Inf values with the tensor's name:
 * a checkpoint that holds them cannot be a good state to continue from.
 */
export function decodeSafetensors(bytes: Uint8Array, file = '<buffer>'): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const { entries, metadata, dataStart } = readHeader(bytes, file);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tensors = new Map<string, NamedTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    const d = DTYPES[dtype];
    const data = new Float32Array((end - begin) / d.bytes);
    for (let i = 0; i < data.length; i++) {
      const v = d.read(dv, dataStart + begin + i * d.bytes);
      if (!Number.isFinite(v)) throw new SafetensorsError(`${file}: tensor '${name}' holds ${v} at index ${i}: refusing a non-finite value`);
      data[i] = v;
    }
    tensors.set(name, { shape, data });
  }
  return { tensors, metadata };
}

/** Write atomically (temp file, then rename): an interrupted save never leaves a corrupt file. */
export function saveSafetensors(path: string, tensors: Map<string, NamedTensor>, metadata?: Record<string, string>): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, encodeSafetensors(tensors, metadata));
  renameSync(tmp, path);
}

export function loadSafetensors(path: string) {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}
