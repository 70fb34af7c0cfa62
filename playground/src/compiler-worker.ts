// The compiler off the page's thread: explain (with parameter count and merge verdict) and verify
// (fast-check, with progress), so typing and training never wait for them.
import { mergeVerdict } from '../../compiler/analysis/mergeable.ts';
import { checkProgram } from '../../compiler/check/check.ts';
import { LilyError, formatDiagnostic } from '../../compiler/diagnostics.ts';
import { explain } from '../../compiler/explain.ts';
import { countParams } from '../../compiler/params.ts';
import { parse } from '../../compiler/syntax/to-ast.ts';
import { verifyAdapter } from '../../compiler/verify.ts';
import type { WorkerReply, WorkerRequest } from './compiler-protocol.ts';

const FILE = 'playground.lily';
const reply = (m: WorkerReply) => postMessage(m);

function checked(source: string) {
  const c = checkProgram(parse(source, FILE));
  if (c.diagnostics.length) throw new LilyError(c.diagnostics);
  return c;
}

function handle(req: WorkerRequest): WorkerReply {
  const c = checked(req.source);
  const unit = c.units.get(req.unit);
  if (!unit) throw new LilyError([{ code: 'E-name', message: `no adapter or model named '${req.unit}'` }]);
  if (req.kind === 'explain') {
    const explanation = explain(c, req.unit, req.dims);
    const params = countParams(c, unit, req.dims, 1);
    let deltaW: { shape: number[]; norm: number } | undefined;
    if (explanation.mergeable) {
      const small = Object.fromEntries(Object.entries(req.dims).map(([k, v]) => [k, typeof v === 'number' ? Math.min(v, 6) : v]));
      const v = mergeVerdict(c, req.unit, small, 0, 'random');
      if (v.deltaW) deltaW = { shape: v.deltaW.shape, norm: Math.hypot(...v.deltaW.data) };
    }
    return { id: req.id, kind: 'explain', result: { explanation, params, deltaW } };
  }
  const result = verifyAdapter(c, req.unit, {
    runs: req.runs,
    seed: req.seed,
    faults: req.fault ? [req.fault] : undefined,
    onCase: (done, runs) => reply({ id: req.id, kind: 'progress', done, runs }),
  });
  return { id: req.id, kind: 'verify', result };
}

onmessage = (e: MessageEvent<WorkerRequest>) => {
  try {
    reply(handle(e.data));
  } catch (err) {
    const message = err instanceof LilyError ? err.diagnostics.map((d) => formatDiagnostic(d, e.data.source)).join('\n') : `internal error: ${err instanceof Error ? err.message : String(err)}`;
    reply({ id: e.data.id, kind: 'error', message });
  }
};
