// What lily train shows while it runs: a progress bar with loss, steps/s and ETA on a terminal; off
// one, a line for the first step, then every few seconds, and the last. With --log, one JSON line
// per step (and per evaluation), written as it happens so a killed run keeps its log.
import { closeSync, openSync, writeSync } from 'node:fs';
import cliProgress from 'cli-progress';
import type { Io } from './main.ts';

export interface LogRecord {
  step: number;
  loss?: number;
  lr?: number;
  grad_norm?: number;
  time: number;
  eval_loss?: number;
  eval_accuracy?: number;
}

const LINE_EVERY_MS = 5000;

export function progress(o: { io: Io; quiet: boolean; tty: boolean; start: number; steps: number; log?: string }) {
  const bar = !o.quiet && o.tty ? new cliProgress.SingleBar({ format: 'step {value}/{total} [{bar}] loss {loss}  {rate} steps/s  ETA {eta_formatted}', hideCursor: true, etaBuffer: 50 }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(o.steps, o.start, { loss: '-', rate: '-' });
  const t0 = performance.now();
  let lastLine = -Infinity;
  let lastEval = performance.now(); // the evaluation before training is in the summary
  let fd: number | undefined;
  if (o.log) fd = openSync(o.log, 'a');
  const records: LogRecord[] = [];
  const write = (r: LogRecord) => {
    records.push(r);
    if (fd !== undefined) writeSync(fd, `${JSON.stringify(r)}\n`);
  };
  const seconds = () => (performance.now() - t0) / 1000;
  return {
    records,
    seconds,
    step(step: number, loss: number, lr: number, gradNorm?: number) {
      write({ step, loss, lr, ...(gradNorm !== undefined ? { grad_norm: gradNorm } : {}), time: seconds() });
      const rate = (step - o.start) / Math.max(1e-9, seconds());
      bar?.update(step, { loss: loss.toPrecision(4), rate: rate.toFixed(0) });
      const now = performance.now();
      if (!bar && !o.quiet && (step === o.start + 1 || step === o.steps || now - lastLine > LINE_EVERY_MS)) {
        lastLine = now;
        o.io.err(`step ${step}/${o.steps}: loss ${loss.toPrecision(4)} (${rate.toFixed(1)} steps/s, ETA ${((o.steps - step) / rate).toFixed(0)} s)`);
      }
    },
    evaluation(step: number, metrics: { loss: number; accuracy: number }, last = false) {
      write({ step, time: seconds(), eval_loss: metrics.loss, eval_accuracy: metrics.accuracy });
      const now = performance.now();
      if (!bar && !o.quiet && (last || now - lastEval > LINE_EVERY_MS)) {
        lastEval = now;
        o.io.err(`step ${step}: evaluation loss ${metrics.loss.toPrecision(4)}, accuracy ${(100 * metrics.accuracy).toFixed(1)}%`);
      }
    },
    close() {
      bar?.stop();
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
