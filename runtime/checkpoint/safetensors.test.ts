import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from './safetensors.ts';

describe('safetensors', () => {
  it('round-trips named F32 tensors and metadata', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z_.]{1,12}$/), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 })), (shapes) => {
        const tensors = new Map(Object.entries(shapes).map(([k, s]) => [k, { shape: s, data: Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => i * 0.5 - 1) }]));
        const bytes = encodeSafetensors(tensors, { format: 'pt' });
        const back = decodeSafetensors(bytes);
        expect(back.metadata).toEqual({ format: 'pt' });
        for (const [k, t] of tensors) {
          expect(back.tensors.get(k)!.shape).toEqual(t.shape);
          expect([...back.tensors.get(k)!.data]).toEqual([...t.data]);
        }
      }),
      { seed: 4, numRuns: 50 },
    );
  });

  it('matches the byte layout of the reference implementation (header length, JSON, aligned data)', () => {
    const bytes = encodeSafetensors(new Map([['a', { shape: [2], data: Float32Array.of(1, 2) }]]));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    expect(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)))).toEqual({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
    expect(new Float32Array(bytes.buffer.slice(8 + n))).toEqual(Float32Array.of(1, 2));
  });

  it('rejects corrupt files with a clear message', () => {
    const good = encodeSafetensors(new Map([['a', { shape: [2], data: Float32Array.of(1, 2) }]]));
    expect(() => decodeSafetensors(good.subarray(0, 5), 'f.safetensors')).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(good.subarray(0, good.length - 4), 'f.safetensors')).toThrow(/run past/);
    const junk = new Uint8Array(16);
    new DataView(junk.buffer).setBigUint64(0, 4n, true);
    expect(() => decodeSafetensors(junk, 'f.safetensors')).toThrow(/does not start with/);
  });
});
