// The loss history of a run in a few numbers (for --json): first, last, min (and where), and the
// mean of the first and last tenth — enough to see whether and how fast it trained.
/** `start`: the step before the first of these losses (a resumed run), so minStep is the run's step number. */
export function lossSummary(losses: number[], start = 0) {
  if (!losses.length) return { steps: 0 };
  const tenth = Math.max(1, Math.floor(losses.length / 10));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  let argmin = 0;
  losses.forEach((l, i) => (l < losses[argmin] ? (argmin = i) : 0));
  return { steps: losses.length, first: losses[0], last: losses.at(-1)!, min: losses[argmin], minStep: start + argmin + 1, firstTenthMean: mean(losses.slice(0, tenth)), lastTenthMean: mean(losses.slice(-tenth)) };
}
