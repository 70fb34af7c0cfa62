// The training loop with no lost work (Node-only: signals). It steps the trainer, stops on
// divergence (NaN/Inf, or a loss above a threshold), checkpoints every `saveEvery` steps and at the
// end, and on SIGINT/SIGTERM/SIGHUP finishes the step in flight, saves, and reports 'interrupted'.
// A state is written only after checking that it gives a finite loss below the threshold on the
// batch it would train on next, so a checkpoint is always a good state to continue from.

export interface LoopTrainer<B = { x: Float32Array; t: Float32Array }> {
  step(batch: B): Promise<number>;
  evaluate(batch: B): Promise<number>;
  trainState(): Promise<Map<string, { shape: number[]; data: Float32Array }>>;
  readonly steps: number;
}

export interface LoopOptions {
  trainer: LoopTrainer;
  /** Batch number i (0-based), a pure function of i: the data position is the step count. */
  batch(i: number): { x: Float32Array; t: Float32Array };
  /** Train until the trainer has taken this many steps (a resumed trainer starts part-way). */
  steps: number;
  /** Checkpoint every this many steps (0: only at the end). */
  saveEvery: number;
  /** Write a checkpoint of the state after `step` steps whose next-batch loss is `loss`; returns where. */
  save?: (step: number, state: Map<string, { shape: number[]; data: Float32Array }>, loss: number, initialLoss: number) => string;
  /** Divergence: a loss above maxLossRatio × the initial loss (or above maxLoss, if given). */
  maxLossRatio: number;
  maxLoss?: number;
  /** The first loss of the run this one continues (resume), for the threshold. */
  initialLoss?: number;
  onStep?: (step: number, loss: number) => void | Promise<void>;
  signals?: NodeJS.Signals[];
}

export interface LoopResult {
  status: 'done' | 'interrupted' | 'diverged';
  losses: number[];
  initialLoss?: number;
  threshold?: number;
  /** The newest checkpoint written by this run. */
  saved?: { step: number; dir: string };
  signal?: NodeJS.Signals;
  /** Where it diverged: the step whose loss was bad, and that loss. */
  diverged?: { step: number; loss: number };
}

export const DEFAULT_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  const { trainer } = o;
  const result: LoopResult = { status: 'done', losses: [], initialLoss: o.initialLoss };
  const threshold = () => o.maxLoss ?? (result.initialLoss === undefined ? Infinity : o.maxLossRatio * result.initialLoss);
  const good = (loss: number) => Number.isFinite(loss) && loss <= threshold();
  let signal: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals) => (signal = s);
  const signals = o.signals ?? DEFAULT_SIGNALS;
  for (const s of signals) process.on(s, onSignal);

  /** Checkpoint the current state if it is good; false if it is not (the run has diverged). */
  const checkpoint = async (): Promise<boolean> => {
    const step = trainer.steps;
    const loss = await trainer.evaluate(o.batch(step));
    if (!good(loss)) {
      result.diverged = { step: step + 1, loss };
      return false;
    }
    if (o.save && result.saved?.step !== step) {
      const state = await trainer.trainState();
      if (![...state.values()].every((t) => t.data.every(Number.isFinite))) {
        result.diverged = { step: step + 1, loss: NaN };
        return false;
      }
      result.saved = { step, dir: o.save(step, state, loss, result.initialLoss ?? loss) };
    }
    return true;
  };

  try {
    while (trainer.steps < o.steps && !signal) {
      const i = trainer.steps;
      const loss = await trainer.step(o.batch(i));
      // A CPU step never yields to the event loop by itself: let signals be delivered.
      await new Promise((resolve) => setImmediate(resolve));
      result.initialLoss ??= Number.isFinite(loss) ? loss : undefined;
      if (!good(loss)) {
        result.diverged = { step: i + 1, loss };
        break;
      }
      result.losses.push(loss);
      await o.onStep?.(i + 1, loss);
      if (o.saveEvery > 0 && trainer.steps % o.saveEvery === 0 && trainer.steps < o.steps && !signal && !(await checkpoint())) break;
    }
    // The end of the run (or an interruption): save where we are, if that state is good.
    if (!result.diverged) await checkpoint();
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
  result.threshold = threshold();
  result.signal = signal;
  result.status = result.diverged ? 'diverged' : signal ? 'interrupted' : 'done';
  return result;
}
