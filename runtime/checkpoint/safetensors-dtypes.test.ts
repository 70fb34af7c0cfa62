// PyTorch checkpoints are often F16 or BF16; results are written F64. Values chosen exactly
// representable, so the expected numbers are exact.
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from './safetensors-codec.ts';

/** A safetensors file with one tensor of the given dtype and raw little-endian bytes. */
function file(dtype: string, shape: number[], raw: Uint8Array): Uint8Array {
  let json = JSON.stringify({ t: { dtype, shape, data_offsets: [0, raw.length] } });
  while ((8 + json.length) % 8) json += ' ';
  const out = new Uint8Array(8 + json.length + raw.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  out.set(raw, 8 + json.length);
  return out;
}

const u16 = (values: number[]) => new Uint8Array(Uint16Array.from(values).buffer);

describe('safetensors dtypes', () => {
  it('reads F16 (incl. subnormals, 65504) and BF16 as float32; an F16 inf is refused', () => {
    // F16: 1.5 = 0x3e00, -2 = 0xc000, 65504 = 0x7bff, 2^-24 = 0x0001 (subnormal), inf = 0x7c00.
    const f16 = decodeSafetensors(file('F16', [4], u16([0x3e00, 0xc000, 0x7bff, 0x0001]))).tensors.get('t')!;
    expect([...f16.data]).toEqual([1.5, -2, 65504, 2 ** -24]);
    expect(() => decodeSafetensors(file('F16', [2], u16([0x3e00, 0x7c00])), 'h.safetensors')).toThrow(/h.safetensors: tensor 't' holds Infinity at index 1/);
    // BF16 is the top half of a float32: 1.5 = 0x3fc0, -0.15625 = 0xbe20, 3.0e38-ish = 0x7f61.
    const bf16 = decodeSafetensors(file('BF16', [2, 1], u16([0x3fc0, 0xbe20]))).tensors.get('t')!;
    expect(bf16.shape).toEqual([2, 1]);
    expect([...bf16.data]).toEqual([1.5, -0.15625]);
  });
  it('writes and reads F64 exactly (float64 results)', () => {
    const data = Float64Array.from([Math.PI, 1e-300, -1 / 3]);
    const back = decodeSafetensors(encodeSafetensors(new Map([['y', { shape: [3], data }]]))).tensors.get('y')!;
    expect(back.data).toBeInstanceOf(Float64Array);
    expect([...back.data]).toEqual([...data]);
  });
});
