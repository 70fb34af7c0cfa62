// What `lily compare` writes: the table (terminal and Markdown), compare.json, and SVG plots drawn
// by Vega-Lite (compiled to Vega and rendered headless in Node): loss curves, ΔW rank per layer,
// accuracy against trainable parameters.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { CompareResult, MethodResult } from './compare.ts';

const pct = (x: number) => (100 * x).toFixed(1);
const accuracyText = (r: MethodResult) => `${pct(r.accuracy.mean)} ± ${pct(r.accuracy.std)}`;
const rankText = (r: MethodResult) => (r.ranks.length ? r.ranks.map((l) => l.rank).join(' ') + ` (of ${r.ranks[0].full})` : '—');
const sizes = (r: MethodResult) => Object.entries(r.chosen).map(([k, v]) => `${k}=${v}`).join(' ');

const HEAD = ['task', 'method', 'sizes', 'trainable', 'lr', 'test acc. % (mean ± std)', 'ms/step', 'ΔW rank per layer', 'mergeable'];
const rowOf = (r: MethodResult) => [
  r.task,
  r.method,
  sizes(r) || '—',
  `${r.trainable.toLocaleString('en-US')}${r.withinBudget ? '' : ' (!)'}`,
  String(r.lr),
  accuracyText(r),
  r.msPerStep.toFixed(0),
  rankText(r),
  r.mergeable.mergeable ? 'yes' : 'no',
];

export function tableText(c: CompareResult): string {
  const rows = [HEAD, ...c.results.map(rowOf)];
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((s, i) => s.padEnd(widths[i])).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function markdown(c: CompareResult, plots: string[]): string {
  const s = c.schedule;
  const lines = [
    `# lily compare: ${c.model}${c.base ? ` on ${c.base}` : ''}`,
    '',
    `Adapters on \`${c.targets}\`, the head (\`${c.head}\`) trained by every method; budget ${c.budget?.toLocaleString('en-US') ?? 'none'} trainable parameters (sizes chosen within 5%; (!) where no size is). ` +
      `${s.optimizer}, ${s.steps} steps of ${s.batch} images, ${s.seeds} seed(s); learning rate ${s.lrSweep.length > 1 ? `chosen from ${s.lrSweep.join(', ')} on a ${Math.round(100 * s.valFraction)}% validation split of the training images (seed 0)` : s.lrSweep[0]}. ` +
      `ΔW rank: singular values above ${c.rankThreshold} × the largest, per adapted layer, after seed 0. Backend ${c.backend}; ${c.seconds.toFixed(0)} s in all.`,
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map(() => '---').join('|')}|`,
    ...c.results.map((r) => `| ${rowOf(r).join(' | ')} |`),
    '',
    ...c.results.filter((r) => !r.mergeable.mergeable).map((r) => `- ${r.method} is not mergeable: ${r.mergeable.reason}.`),
    '',
    ...plots.map((p) => `![${p}](${p})`),
    '',
  ];
  return lines.join('\n');
}

async function svg(spec: object): Promise<string> {
  const full = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...spec } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(full).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The three plots, by file name. */
export async function plots(c: CompareResult): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  // Training loss, smoothed over 10 steps, seed 0, one panel per task.
  const loss = c.results.flatMap((r) => {
    const l = r.runs[0].losses;
    return l.map((_, i) => {
      const w = l.slice(Math.max(0, i - 9), i + 1);
      return { task: r.task, method: r.method, step: i + 1, loss: w.reduce((a, b) => a + b, 0) / w.length };
    });
  });
  out.set('compare-loss.svg', await svg({
    title: 'training loss (seed 0, mean of the last 10 steps)',
    data: { values: loss },
    facet: { column: { field: 'task', type: 'nominal', title: null } },
    spec: { width: 300, height: 220, mark: 'line', encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'loss', type: 'quantitative', scale: { type: 'log' } }, color: { field: 'method', type: 'nominal' } } },
  }));
  const ranks = c.results.flatMap((r) => r.ranks.map((l) => ({ task: r.task, method: r.method, layer: l.layer, rank: l.rank })));
  out.set('compare-rank.svg', await svg({
    title: `effective rank of ΔW per layer (σ > ${c.rankThreshold} σmax)`,
    data: { values: ranks },
    facet: { column: { field: 'task', type: 'nominal', title: null } },
    spec: { width: 300, height: 220, mark: 'bar', encoding: { x: { field: 'layer', type: 'nominal', sort: null }, xOffset: { field: 'method' }, y: { field: 'rank', type: 'quantitative' }, color: { field: 'method', type: 'nominal' } } },
  }));
  const acc = c.results.map((r) => ({ task: r.task, method: r.method, trainable: r.trainable, accuracy: r.accuracy.mean, low: r.accuracy.mean - r.accuracy.std, high: r.accuracy.mean + r.accuracy.std }));
  out.set('compare-accuracy.svg', await svg({
    title: 'test accuracy (mean ± std over seeds) against trainable parameters',
    data: { values: acc },
    facet: { column: { field: 'task', type: 'nominal', title: null } },
    spec: {
      width: 300,
      height: 220,
      encoding: { x: { field: 'trainable', type: 'quantitative', scale: { type: 'log' }, title: 'trainable parameters' }, color: { field: 'method', type: 'nominal' } },
      layer: [
        { mark: { type: 'point', filled: true, size: 80 }, encoding: { y: { field: 'accuracy', type: 'quantitative', axis: { format: '%' }, scale: { zero: false } } } },
        { mark: 'rule', encoding: { y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } } },
      ],
    },
  }));
  return out;
}
