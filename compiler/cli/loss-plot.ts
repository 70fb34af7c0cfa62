// Loss curves as SVG, drawn by Vega-Lite (compiled to Vega, rendered headless in Node — no canvas
// needed for SVG): training loss per step, and the evaluation loss where there is one, on a log axis;
// evaluation accuracy in a second panel when the log has it.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { LogRecord } from './train-progress.ts';

export async function lossPlotSvg(records: LogRecord[], title = 'lily train'): Promise<string> {
  const rows = records.flatMap((r) => [
    ...(r.loss !== undefined && Number.isFinite(r.loss) ? [{ step: r.step, value: r.loss, curve: 'train loss' }] : []),
    ...(r.eval_loss !== undefined && Number.isFinite(r.eval_loss) ? [{ step: r.step, value: r.eval_loss, curve: 'evaluation loss' }] : []),
  ]);
  const accuracy = records.flatMap((r) => (r.eval_accuracy !== undefined && Number.isFinite(r.eval_accuracy) ? [{ step: r.step, accuracy: r.eval_accuracy }] : []));
  const x = { field: 'step', type: 'quantitative', title: 'step' } as const;
  const lossPanel = {
    data: { values: rows },
    width: 520,
    height: 260,
    mark: { type: 'line', point: rows.length < 60 },
    encoding: { x, y: { field: 'value', type: 'quantitative', title: 'loss', scale: { type: 'log' } }, color: { field: 'curve', type: 'nominal', title: null } },
  };
  const accuracyPanel = {
    data: { values: accuracy },
    width: 520,
    height: 120,
    mark: { type: 'line', point: true },
    encoding: { x, y: { field: 'accuracy', type: 'quantitative', title: 'evaluation accuracy', axis: { format: '%' } } },
  };
  const spec = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, vconcat: accuracy.length ? [lossPanel, accuracyPanel] : [lossPanel] } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
