// Tensor layouts between Lily's parameters and PEFT's stored tensors (the `layout` of a record in
// methods.ts): each a pair of pure functions. Browser-safe.
import type { Layout } from './methods.ts';

export interface Dense {
  shape: number[];
  data: Float32Array | Float64Array;
}

/** [r, c] → [c, r], keeping the element type (PyTorch's [out, in] ↔ our [In, Out]). */
export const transpose2d = <T extends Dense>(t: T): T => {
  if (t.shape.length !== 2) return t;
  const [r, c] = t.shape;
  const out = new (t.data.constructor as Float64ArrayConstructor)(t.data.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: out } as T;
};

export const LAYOUTS: Record<Layout, { toPeft(t: Dense): Dense; fromPeft(t: Dense, ours: number[]): Dense }> = {
  same: { toPeft: (t) => t, fromPeft: (t) => t },
  transpose: { toPeft: transpose2d, fromPeft: (t) => transpose2d(t) },
  // [E, r, Out] and [E·r, Out] hold the same bytes in row-major order.
  experts: {
    toPeft: (t) => ({ shape: [t.shape[0] * t.shape[1], t.shape[2]], data: t.data }),
    fromPeft: (t, ours) => ({ shape: t.shape.length === 2 && ours.length === 3 && t.shape[0] === ours[0] * ours[1] && t.shape[1] === ours[2] ? ours : t.shape, data: t.data }),
  },
};

/** The shape PEFT stores for one of ours (to report mismatches in PEFT's terms). */
export function peftShape(layout: Layout, ours: number[]): number[] {
  if (layout === 'transpose' && ours.length === 2) return [ours[1], ours[0]];
  if (layout === 'experts' && ours.length === 3) return [ours[0] * ours[1], ours[2]];
  return ours;
}
