// The additive epilogue of a GEMM kernel done by the gemm itself (cpu-gemm-match.ts): when the pass
// after gemm is only C + t₁ + t₂ + … (a bias broadcast along the rows, a residual of C's shape), the
// native batched call writes t₁ + t₂ + … into C first and multiplies with beta = 1, so no generated
// JS pass runs over the output (the epilogue of a 2080×384 product was ~1.8 ms of JS at ~2.3 ns per
// element; the native prefill streams the same bytes at memory speed).
import type { BufferId, KExpr } from '../fuse/kernel-ir.ts';
import { coefMap, exprKey } from './cpu-kexpr.ts';

/** one term of the prefill: element (m, n) of C gets buf[offset + m·rowStride + n·colStride] */
export interface PrefillTerm {
  buf: BufferId;
  offset: number;
  rowStride: number;
  colStride: number;
}

/** the most terms the native call takes (sgemmBatch's t0…t3) */
export const MAX_PREFILL_TERMS = 4;

interface Var {
  v: string;
  extent: number;
}

function addends(e: KExpr, out: KExpr[] = []): KExpr[] {
  if (e.k === 'bin' && e.op === '+') {
    addends(e.a, out);
    addends(e.b, out);
  } else out.push(e);
  return out;
}

/** stride of a fused group in a load (0 when the load does not depend on it), or null when it does not nest */
function groupStride(group: readonly Var[], coef: Map<string, number>): number | null {
  const live = group.filter((g) => g.extent !== 1);
  if (live.every((g) => !coef.get(g.v))) return 0;
  let expect = coef.get(live[live.length - 1]!.v) ?? 0;
  if (expect <= 0) return null;
  const unit = expect;
  for (let i = live.length - 1; i >= 0; i--) {
    if (coef.get(live[i]!.v) !== expect) return null;
    expect *= live[i]!.extent;
  }
  return unit;
}

/**
 * The terms t₁… when `epilogue` is `cLoad + t₁ + …` with every tᵢ a load expressible over C's rows and
 * columns (rows: the fused row variables, cols: the fused column variables; no batch), none of them
 * the output itself; else null.
 */
export function prefillOf(epilogue: KExpr, cLoad: KExpr, out: BufferId, rows: readonly Var[], cols: readonly Var[]): PrefillTerm[] | null {
  const terms = addends(epilogue);
  const cKey = exprKey(cLoad);
  if (terms.filter((t) => exprKey(t) === cKey).length !== 1) return null;
  const rest = terms.filter((t) => exprKey(t) !== cKey);
  if (rest.length === 0 || rest.length > MAX_PREFILL_TERMS) return null;
  const inC = new Set([...rows, ...cols].map((v) => v.v));
  const found: PrefillTerm[] = [];
  for (const t of rest) {
    if (t.k !== 'load' || t.buf < 0 || t.buf === out) return null;
    const coef = coefMap(t.at);
    for (const [v, c] of coef) if (c !== 0 && !inC.has(v)) return null; // an index C does not have (extent-1 loops)
    const rowStride = groupStride(rows, coef), colStride = groupStride(cols, coef);
    if (rowStride === null || colStride === null) return null;
    found.push({ buf: t.buf, offset: t.at.offset, rowStride, colStride });
  }
  return found;
}
