import { describe, expect, it } from 'vitest';
import { decodeNpy, NpyError } from './npy.ts';

/** An .npy file as NumPy writes it (version 1.0, header padded to a multiple of 64 with a newline). */
function npy(descr: string, shape: number[], write: (dv: DataView, at: number) => number): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const body = new Uint8Array(1024);
  const n = write(new DataView(body.buffer), 0);
  const out = new Uint8Array(10 + header.length + n);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body.subarray(0, n), 10 + header.length);
  return out;
}

describe('.npy reader', () => {
  it('reads little-endian float32 and big-endian int64 arrays with their shapes', () => {
    const f = npy('<f4', [2, 3], (dv) => {
      [1.5, -2, 3, 4, 5, 6.25].forEach((v, i) => dv.setFloat32(4 * i, v, true));
      return 24;
    });
    expect(decodeNpy(f)).toEqual({ shape: [2, 3], data: Float64Array.from([1.5, -2, 3, 4, 5, 6.25]) });
    const g = npy('>i8', [3], (dv) => {
      [7n, -1n, 42n].forEach((v, i) => dv.setBigInt64(8 * i, v, false));
      return 24;
    });
    expect(decodeNpy(g)).toEqual({ shape: [3], data: Float64Array.from([7, -1, 42]) });
  });
  it('refuses truncated data, a bad magic and Fortran order with the file name', () => {
    const f = npy('<f8', [4], (dv) => (dv.setFloat64(0, 1, true), 8));
    expect(() => decodeNpy(f, 'a.npy')).toThrow(/a\.npy: .*needs 32 bytes/);
    expect(() => decodeNpy(new Uint8Array(20), 'b.npy')).toThrow(NpyError);
    const fortran = npy('<f4', [1], () => 4);
    const at = new TextDecoder('latin1').decode(fortran).indexOf('False');
    fortran.set(new TextEncoder().encode('True '), at);
    expect(() => decodeNpy(fortran)).toThrow(/Fortran/);
  });
});
