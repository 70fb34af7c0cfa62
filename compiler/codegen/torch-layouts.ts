// How each stored layout (runtime/peft/methods.ts) reads and writes in PyTorch: one record per
// layout, Python expressions between PEFT's stored tensor and our parameter. `v` is the stored (or
// our) value, `shape` our shape as a Python tuple, `self` the wrapper (for the base layer).
import type { Layout } from '../../runtime/peft/methods.ts';

export interface TorchLayout {
  /** Stored → ours (inside forward: autograd flows through it). */
  toOurs(v: string, shape: string): string;
  /** Ours → stored (initialisation, the check's values). */
  fromOurs(v: string, shape: string): string;
  /** A gradient of the stored tensor → of ours (the linear part of toOurs). */
  gradToOurs(g: string, shape: string): string;
}

export const TORCH_LAYOUTS: Record<Layout, TorchLayout> = {
  same: { toOurs: (v) => v, fromOurs: (v) => v, gradToOurs: (g) => g },
  // [In, r] ↔ nn.Linear's [r, In]
  transpose: { toOurs: (v) => `${v}.t()`, fromOurs: (v) => `${v}.t().contiguous()`, gradToOurs: (g) => `${g}.t()` },
  // [E, r, Out] ↔ [E·r, Out], the same bytes
  experts: { toOurs: (v, s) => `${v}.reshape(${s})`, fromOurs: (v, s) => `${v}.reshape(${s}[0] * ${s}[1], ${s}[2])`, gradToOurs: (g, s) => `${g}.reshape(${s})` },
  // DoRA: PEFT stores m = ‖W0‖ (per output row) + our offset dm
  magnitude: { toOurs: (v) => `(${v} - _row_norm(self.base_layer.weight))`, fromOurs: (v) => `(${v} + _row_norm(self.base_layer.weight))`, gradToOurs: (g) => g },
};
