// The identity of a training program: resuming a checkpoint into another program (other source,
// entry, sizes or loss) is an error, because it would not continue the run that wrote it.
import { createHash } from 'node:crypto';

export function programHash(parts: { source: string; entry: string; dims: Record<string, number | boolean>; loss: string; attach?: unknown }): string {
  const dims = Object.fromEntries(Object.entries(parts.dims).sort(([a], [b]) => a.localeCompare(b)));
  return createHash('sha256').update(JSON.stringify({ ...parts, dims })).digest('hex');
}
