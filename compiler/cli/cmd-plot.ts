// lily plot run.jsonl: the loss curves of a --log file as SVG.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { fail } from '../diagnostics.ts';
import { writeFileAtomic } from '../../runtime/trainer/durable.ts';
import { lossPlotSvg } from './loss-plot.ts';
import type { LogRecord } from './train-progress.ts';
import type { Action, Io, Wrapped } from './main.ts';

export function readLog(file: string): LogRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    fail('E-file', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const records: LogRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let r: LogRecord;
    try {
      r = JSON.parse(line);
    } catch {
      fail('E-file', `${file}:${i + 1}: not a JSON line (a log written by lily train --log)`);
    }
    if (typeof r !== 'object' || r === null || !Number.isFinite(r.step)) fail('E-file', `${file}:${i + 1}: no "step" number (a log written by lily train --log)`);
    records.push(r);
  });
  if (!records.length) fail('E-file', `${file}: no records`);
  return records;
}

export function registerPlot(program: Command, io: Io, wrap: (fn: Action) => Wrapped) {
  program
    .command('plot')
    .description('draw the loss curves of a lily train --log file as SVG')
    .argument('<log>', 'a JSON Lines log written by lily train --log')
    .option('-o, --out <file>', 'the SVG to write', 'loss.svg')
    .option('--json', 'print what was drawn as one JSON object')
    .action(
      wrap(async (log: string, o: { out: string; json?: boolean }) => {
        const records = readLog(log);
        const svg = await lossPlotSvg(records, log);
        try {
          writeFileAtomic(o.out, svg);
        } catch (e) {
          fail('E-file', `cannot write ${o.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        const steps = records.filter((r) => r.loss !== undefined).length;
        const evaluations = records.filter((r) => r.eval_loss !== undefined).length;
        if (o.json) io.out(JSON.stringify({ svg: o.out, steps, evaluations }));
        else io.err(`wrote ${o.out}: ${steps} steps, ${evaluations} evaluations`);
        return 0;
      }),
    );
}
