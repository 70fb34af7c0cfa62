// Names a --dims (or --hparams) setting may use: the dimension names and hyper-parameters that
// appear in the program. A name nobody reads is a typo, reported with the closest known name.
import { closest } from 'fastest-levenshtein';
import type { CheckedProgram } from '../check/check.ts';
import { fail } from '../diagnostics.ts';

export function knownSettingNames(checked: CheckedProgram): Set<string> {
  const names = new Set<string>();
  const seen = new WeakSet<object>();
  const walk = (v: unknown) => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    const node = v as { kind?: string; name?: string; hypers?: { name: string }[] };
    if (node.kind === 'dimName' && typeof node.name === 'string') names.add(node.name);
    for (const h of node.hypers ?? []) names.add(h.name);
    for (const child of Array.isArray(v) ? v : Object.values(v)) walk(child);
  };
  for (const unit of checked.units.values()) walk(unit.decl);
  return names;
}

/** Fail on a setting the program does not have, suggesting the nearest name. */
export function checkSettingNames(checked: CheckedProgram, settings: Record<string, unknown>, flag = '--dims') {
  const known = knownSettingNames(checked);
  for (const name of Object.keys(settings))
    if (!known.has(name)) {
      const near = known.size ? closest(name, [...known]) : undefined;
      fail('E-usage', `${flag}: the program has no dimension or hyper-parameter '${name}'${near ? `; did you mean '${near}'?` : ''}`, undefined, { expected: [...known].sort().join(', ') });
    }
}

/** The name of the batch axis: the first axis of the entry's input (forward(x: [B, D]) → B). */
export function batchAxisOf(checked: CheckedProgram, entry: string): string {
  const unit = checked.units.get(entry);
  const m = unit?.methods.get('forward') ?? unit?.methods.get('delta');
  const t = m?.params[0]?.type;
  const first = t?.kind === 'tensorType' ? t.dims[0] : undefined;
  return first?.kind === 'dimName' ? first.name : 'N';
}
