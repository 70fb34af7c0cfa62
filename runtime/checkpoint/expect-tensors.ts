// A file's tensors against the names and shapes a program needs: a missing tensor is an error (never
// silently re-initialised), an unknown one is an error unless the caller allows extras, a shape
// mismatch is an error. Messages name the file and the tensor.
import { SafetensorsError } from './safetensors-header.ts';

export function expectTensors(
  file: string,
  got: Map<string, { shape: number[] }>,
  expected: Map<string, number[]>,
  opts: { allowUnknown?: boolean; warn?: (message: string) => void } = {},
): void {
  const missing = [...expected.keys()].filter((k) => !got.has(k));
  if (missing.length) throw new SafetensorsError(`${file}: missing ${missing.length} tensor(s) the program needs: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  const unknown = [...got.keys()].filter((k) => !expected.has(k));
  if (unknown.length) {
    const message = `${file}: ${unknown.length} tensor(s) the program does not have: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''}`;
    if (!opts.allowUnknown) throw new SafetensorsError(message);
    opts.warn?.(`${message} (ignored)`);
  }
  for (const [name, shape] of expected) {
    const s = got.get(name)!.shape;
    if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) throw new SafetensorsError(`${file}: tensor '${name}' has shape [${s}], the program needs [${shape}]`);
  }
}
