// A fuzz worker: a child process that runs `lily` commands in-process, one at a time, as the
// supervisor sends them (starting Node and tsx per command costs ~1.5 s; this costs nothing). The
// supervisor enforces the timeout and the memory cap by killing this process and starting another.
import { main } from '../compiler/cli/main.ts';

const clip = (s: string) => (s.length > 4000 ? `${s.slice(0, 4000)}…` : s);

process.on('message', async (job: { id: number; argv: string[] }) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(job.argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  process.send!({ id: job.id, code, out: clip(out.join('\n')), err: clip(err.join('\n')) });
});
process.send!({ ready: true });
