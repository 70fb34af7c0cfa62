// NumPy's .npy format (version 1–3): the magic `\x93NUMPY`, a version, a header length, a Python
// dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (6, 16)}, then the raw data.
// Read only; float and integer dtypes widen to float64. Browser-safe.

export class NpyError extends Error {}

const DTYPES: Record<string, { bytes: number; read: (dv: DataView, at: number, le: boolean) => number }> = {
  f4: { bytes: 4, read: (dv, at, le) => dv.getFloat32(at, le) },
  f8: { bytes: 8, read: (dv, at, le) => dv.getFloat64(at, le) },
  i1: { bytes: 1, read: (dv, at) => dv.getInt8(at) },
  u1: { bytes: 1, read: (dv, at) => dv.getUint8(at) },
  i2: { bytes: 2, read: (dv, at, le) => dv.getInt16(at, le) },
  u2: { bytes: 2, read: (dv, at, le) => dv.getUint16(at, le) },
  i4: { bytes: 4, read: (dv, at, le) => dv.getInt32(at, le) },
  u4: { bytes: 4, read: (dv, at, le) => dv.getUint32(at, le) },
  i8: { bytes: 8, read: (dv, at, le) => Number(dv.getBigInt64(at, le)) },
  u8: { bytes: 8, read: (dv, at, le) => Number(dv.getBigUint64(at, le)) },
  b1: { bytes: 1, read: (dv, at) => dv.getUint8(at) },
};

export function decodeNpy(bytes: Uint8Array, file = '<buffer>'): { shape: number[]; data: Float64Array } {
  const bad = (why: string): never => {
    throw new NpyError(`${file}: not a valid .npy file: ${why}`);
  };
  if (bytes.length < 10 || bytes[0] !== 0x93 || new TextDecoder().decode(bytes.subarray(1, 6)) !== 'NUMPY') bad('no \\x93NUMPY magic');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const [len, at] = major === 1 ? [dv.getUint16(8, true), 10] : major <= 3 ? [dv.getUint32(8, true), 12] : bad(`unknown version ${major}`);
  if (at + len > bytes.length) bad('the header runs past the end of the file');
  const header = new TextDecoder().decode(bytes.subarray(at, at + len));
  const descr = /'descr'\s*:\s*'([<>|=])([a-z]\d+)'/.exec(header) ?? bad(`no descr in header ${header.trim()}`);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1] ?? bad('no fortran_order');
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1] ?? bad('no shape');
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) bad(`bad shape (${shapeText})`);
  if (fortran === 'True') bad('Fortran-ordered arrays are not supported (save with np.ascontiguousarray)');
  const dtype = DTYPES[descr[2]] ?? bad(`unsupported dtype ${descr[1]}${descr[2]}`);
  const le = descr[1] !== '>';
  const count = shape.reduce((a, b) => a * b, 1);
  const start = at + len;
  if (start + count * dtype.bytes > bytes.length) bad(`shape (${shape}) needs ${count * dtype.bytes} bytes of data, the file has ${bytes.length - start}`);
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = dtype.read(dv, start + i * dtype.bytes, le);
  return { shape, data };
}
