// Which PEFT method (if any) an adapter computes: the same parameter names and hyper-parameters as
// the method's stdlib adapter, and the same outputs on random parameters and inputs at small sizes.
// A user-written adapter named `LoRA` that computes something else is saved as a Lily program,
// never under a peft_type PEFT would misread.
import type { CheckedProgram } from '../../compiler/check/check.ts';
import { runEntry } from '../../compiler/interp/run.ts';
import { LilyError } from '../../compiler/diagnostics.ts';
import type { Tensor } from '../tensor/index.ts';
import { PEFT_METHODS, type PeftMethod } from './methods.ts';
import { commonSettings } from './folder.ts';
import type { AdaptedLayer } from '../../compiler/interp/targets.ts';

const sameNames = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

export function identifyMethod(checked: CheckedProgram, adapter: string, settings: Record<string, number | boolean>, reference: (m: PeftMethod) => CheckedProgram): PeftMethod | undefined {
  const unit = checked.units.get(adapter);
  if (!unit || unit.decl.kind !== 'adapter' || !unit.base) return undefined;
  const params = unit.params.map((p) => p.decl.name);
  const hypers = unit.decl.hypers.map((h) => h.name);
  const { inDim, outDim } = unit.base;
  // Small sizes for the layer's own dimension names (In, Out); a computed size cannot be set.
  const io = [inDim, outDim].map((d) => {
    const [[key, coef] = ['', 0]] = [...d];
    return d.size === 1 && coef === 1 && /^[A-Za-z_]\w*$/.test(key) ? key : undefined;
  });
  if (!io[0] || !io[1]) return undefined;
  for (const method of PEFT_METHODS) {
    const ref = reference(method);
    const refUnit = ref.units.get(method.adapter)!;
    if (!sameNames(params, refUnit.params.map((p) => p.decl.name)) || !method.hypers.every((h) => hypers.includes(h.ours))) continue;
    const at = { ...settings, [io[0]]: 5, [io[1]]: 6, N: 3 };
    try {
      const ours = runEntry(checked, adapter, { settings: at, seed: 11, params: 'random' }).output;
      const theirs = runEntry(ref, method.adapter, { settings: { ...settings, In: 5, Out: 6, N: 3 }, seed: 11, params: 'random' }).output;
      if (ours.kind !== 'tensor' || theirs.kind !== 'tensor') continue;
      const [a, b] = [(ours.t as Tensor).data, (theirs.t as Tensor).data];
      if (a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 1e-12 * (1 + Math.abs(b[i])))) return method;
    } catch (e) {
      if (!(e instanceof LilyError)) throw e;
    }
  }
  return undefined;
}

/** The PEFT method a set of adapted layers is saved as: one adapter, one set of hyper-parameters, computing a method's formula; else undefined (a Lily program). */
export function methodOfLayers(checked: CheckedProgram, adapted: AdaptedLayer[], reference: (m: PeftMethod) => CheckedProgram): PeftMethod | undefined {
  const common = commonSettings(adapted);
  return typeof common === 'string' ? undefined : identifyMethod(checked, adapted[0].adapter, common, reference);
}
