// The corruption suite: every damaged file is refused with a SafetensorsError (a message, never a
// crash or a partial load), or is provably harmless — it decodes, passes the names-and-shapes check a
// loader makes, and gives bit-identical tensors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from './safetensors.ts';
import { MAX_HEADER_BYTES } from './safetensors-header.ts';
import { expectTensors } from './expect-tensors.ts';

const original = new Map([
  ['layer.lily_A.weight', { shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => 0.25 * i - 1) }],
  ['layer.lily_B.weight', { shape: [2, 3, 2], data: Float32Array.from({ length: 12 }, (_, i) => 1 / (i + 1)) }],
  ['router', { shape: [3], data: Float32Array.of(-2, 0.5, 7) }],
  ['empty', { shape: [0, 5], data: new Float32Array(0) }],
]);
const expected = new Map([...original].map(([k, t]) => [k, t.shape]));
const good = encodeSafetensors(original);
const headerLength = Number(new DataView(good.buffer).getBigUint64(0, true));

/** 'refused' (a SafetensorsError), 'identical', or 'HARMFUL: …' (anything else). */
function verdict(bytes: Uint8Array): string {
  let tensors;
  try {
    tensors = decodeSafetensors(bytes, 'c.safetensors').tensors;
    expectTensors('c.safetensors', tensors, expected);
  } catch (e) {
    if (e instanceof SafetensorsError && e.message.startsWith('c.safetensors')) return 'refused';
    return `HARMFUL: threw ${(e as Error)?.constructor?.name}: ${(e as Error).message}`;
  }
  for (const [k, t] of original) {
    const back = tensors.get(k)!.data;
    if (back.length !== t.data.length || back.some((v, i) => !Object.is(v, t.data[i]))) return `HARMFUL: '${k}' loaded with different values`;
  }
  return 'identical';
}

const flipped = (at: number, bit: number) => {
  const b = Uint8Array.from(good);
  b[at] ^= 1 << bit;
  return b;
};

/** A file with a hand-written header over a given data section. */
function withHeader(header: unknown, data: Uint8Array = new Uint8Array(0)) {
  const head = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}
const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

describe('safetensors corruption suite', () => {
  it('the undamaged file loads (the suite compares against it)', () => {
    expect(verdict(good)).toBe('identical');
  });

  it('refuses every truncation', () => {
    const harmful = [];
    for (let n = 0; n < good.length; n++) if (verdict(good.subarray(0, n)) !== 'refused') harmful.push(n);
    expect(harmful).toEqual([]);
  });

  it('refuses trailing bytes after the data section', () => {
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expect(() => decodeSafetensors(longer, 'f')).toThrow(/4 bytes after the last tensor/);
  });

  it('every bit flip in the header length is refused or harmless', () => {
    const results = new Set<string>();
    for (let at = 0; at < 8; at++) for (let bit = 0; bit < 8; bit++) results.add(verdict(flipped(at, bit)));
    expect([...results].filter((r) => r.startsWith('HARMFUL'))).toEqual([]);
  });

  it('every bit flip in the JSON header is refused or harmless', () => {
    const harmful: string[] = [];
    let refused = 0;
    for (let at = 8; at < 8 + headerLength; at++)
      for (let bit = 0; bit < 8; bit++) {
        const v = verdict(flipped(at, bit));
        if (v === 'refused') refused++;
        else if (v !== 'identical') harmful.push(`byte ${at} bit ${bit}: ${v}`);
      }
    expect(harmful).toEqual([]);
    expect(refused).toBeGreaterThan(headerLength * 4); // most flips break the header; the rest change nothing
  });

  it('random overwrites of header bytes are refused or harmless (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 7 + headerLength }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
        const b = Uint8Array.from(good);
        for (const [at, v] of edits) b[at] = v;
        expect(verdict(b)).not.toMatch(/^HARMFUL/);
      }),
      { seed: 9, numRuns: 2000 },
    );
  });

  it('refuses NaN and Inf data, naming the tensor', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const file = encodeSafetensors(new Map([['w', { shape: [2], data: Float32Array.of(1, bad) }]]));
      expect(() => decodeSafetensors(file, 'n.safetensors')).toThrow(new RegExp(`n.safetensors: tensor 'w' holds ${bad} at index 1`));
    }
  });

  const cases: [string, Uint8Array, RegExp][] = [
    ['header length above the limit', (() => { const b = Uint8Array.from(good); new DataView(b.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES) + 1n, true); return b; })(), /above the 100000000-byte limit/],
    ['header length past the end', (() => { const b = Uint8Array.from(good); new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true); return b; })(), /limit|exceeds/],
    ['a JSON array', withHeader('[1, 2]'), /does not start with/],
    ['JSON null', withHeader('null   '), /does not start with/],
    ['not UTF-8', withHeader(String.fromCharCode(123) + '\uFFFF'.repeat(0)).map((v, i, a) => (i === a.length - 1 ? 0xff : v)), /not UTF-8|not JSON/],
    ['an entry that is not an object', withHeader({ w: 3 }), /entry is not an object/],
    ['metadata that is not strings', withHeader({ __metadata__: { a: 1 } }), /__metadata__/],
    ['an unknown dtype', withHeader({ w: { dtype: 'I8', shape: [4], data_offsets: [0, 4] } }, f32(1)), /unsupported dtype "I8"/],
    ['a missing dtype', withHeader({ w: { shape: [1], data_offsets: [0, 4] } }, f32(1)), /unsupported dtype undefined/],
    ['a negative size', withHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /not a list of sizes/],
    ['a fractional size', withHeader({ w: { dtype: 'F32', shape: [0.5, 2], data_offsets: [0, 4] } }, f32(1)), /not a list of sizes/],
    ['shape × dtype ≠ bytes', withHeader({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, f32(1)), /needs 8 bytes, data_offsets \[0, 4\] hold 4/],
    ['dtype changed (F32 read as F16)', withHeader({ w: { dtype: 'F16', shape: [1], data_offsets: [0, 4] } }, f32(1)), /needs 2 bytes/],
    ['begin after end', withHeader({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32(1)), /begin ≤ end/],
    ['three offsets', withHeader({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, f32(1, 2)), /begin ≤ end/],
    ['offsets past the data', withHeader({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(1)), /run past the 4-byte data section/],
    ['overlapping tensors', withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(1, 2)), /overlaps/],
    ['two names on the same bytes', withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(1)), /overlaps/],
    ['a gap between tensors', withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32(1, 2, 3)), /gap of 4 unused bytes before tensor 'b'/],
    ['a gap at the start', withHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(1, 2)), /gap of 4/],
  ];
  it.each(cases)('refuses %s', (_, bytes, message) => {
    expect(() => decodeSafetensors(bytes, 'x.safetensors')).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes, 'x.safetensors')).toThrow(message);
  });

  it('a missing tensor, an unknown tensor and a wrong shape are errors at load time', () => {
    const got = new Map([['a', { shape: [2] }], ['b', { shape: [3] }]]);
    expect(() => expectTensors('f', got, new Map([['a', [2]], ['b', [3]], ['c', [1]]]))).toThrow(/missing 1 tensor\(s\) the program needs: c/);
    expect(() => expectTensors('f', got, new Map([['a', [2]]]))).toThrow(/1 tensor\(s\) the program does not have: b/);
    const warnings: string[] = [];
    expectTensors('f', got, new Map([['a', [2]]]), { allowUnknown: true, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringMatching(/does not have: b \(ignored\)/)]);
    expect(() => expectTensors('f', got, new Map([['a', [2]], ['b', [4]]]))).toThrow(/tensor 'b' has shape \[3\], the program needs \[4\]/);
  });
});
