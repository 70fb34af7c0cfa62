// Tensor layouts between Lily's parameters and PEFT's stored tensors (the `layout` of a record in
// methods.ts): each a pair of pure functions. Browser-safe.
import type { Layout } from './methods.ts';

export interface Dense {
  shape: number[];
  data: Float32Array | Float64Array;
}

/** What a layout may need besides the tensor: the adapted layer's frozen weight W0 [In, Out]. */
export interface LayoutContext {
  baseW?: Dense;
}

/** [r, c] → [c, r], keeping the element type (PyTorch's [out, in] ↔ our [In, Out]). */
export const transpose2d = <T extends Dense>(t: T): T => {
  if (t.shape.length !== 2) return t;
  const [r, c] = t.shape;
  const out = new (t.data.constructor as Float64ArrayConstructor)(t.data.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: out } as T;
};

/** ‖W0[:, o]‖ for each output o (W0 is [In, Out]): DoRA's initial magnitude, PEFT's row norms. */
function columnNorms(w: Dense): Float64Array {
  const [In, Out] = w.shape;
  const n = new Float64Array(Out);
  for (let i = 0; i < In; i++) for (let o = 0; o < Out; o++) n[o] += w.data[i * Out + o] ** 2;
  return n.map(Math.sqrt);
}

function needBase(ctx: LayoutContext): Dense {
  if (!ctx.baseW) throw new Error('internal: the magnitude layout needs the layer weight');
  return ctx.baseW;
}

export const LAYOUTS: Record<Layout, { toPeft(t: Dense, ctx: LayoutContext): Dense; fromPeft(t: Dense, ours: number[], ctx: LayoutContext): Dense }> = {
  same: { toPeft: (t) => t, fromPeft: (t) => t },
  transpose: { toPeft: transpose2d, fromPeft: (t) => transpose2d(t) },
  // [E, r, Out] and [E·r, Out] hold the same bytes in row-major order.
  experts: {
    toPeft: (t) => ({ shape: [t.shape[0] * t.shape[1], t.shape[2]], data: t.data }),
    fromPeft: (t, ours) => ({ shape: t.shape.length === 2 && ours.length === 3 && t.shape[0] === ours[0] * ours[1] && t.shape[1] === ours[2] ? ours : t.shape, data: t.data }),
  },
  // DoRA: m = ‖W0‖ + dm.
  magnitude: {
    toPeft: (t, ctx) => {
      const n = columnNorms(needBase(ctx));
      return { shape: t.shape, data: Float64Array.from(t.data, (v, o) => n[o] + v) };
    },
    fromPeft: (t, _ours, ctx) => {
      const n = columnNorms(needBase(ctx));
      return { shape: t.shape, data: Float64Array.from(t.data, (v, o) => v - n[o]) };
    },
  },
};

/** The shape PEFT stores for one of ours (to report mismatches in PEFT's terms). */
export function peftShape(layout: Layout, ours: number[]): number[] {
  if (layout === 'transpose' && ours.length === 2) return [ours[1], ours[0]];
  if (layout === 'experts' && ours.length === 3) return [ours[0] * ours[1], ours[2]];
  return ours;
}
