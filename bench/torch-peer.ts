// The PyTorch peer (bench/torch/peer.py) as a child process: the benchmark asks it for one step at a
// time, so ours and PyTorch's samples interleave in one run. Python is /usr/bin/python3 (Debian's
// python3-torch; override with LILY_TORCH_PYTHON), with the machine's OPENBLAS_CORETYPE /
// OPENBLAS_L2_SIZE removed (they force an older sgemm kernel; the bench removes them for our
// process too) and as many threads as we use.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface TorchInfo {
  torch: string;
  threads: number;
  compile: boolean;
  /** the CUDA device's name, or null */
  cuda: string | null;
}

export class TorchPeer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending: Array<(line: string) => void> = [];
  private stderr = '';
  private exited: string | null = null;

  private constructor(python: string, threads: number) {
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    // beside this file, or (when this runs bundled, as bench/gpu.sh does) under the working directory
    const here = fileURLToPath(new URL('./torch/peer.py', import.meta.url));
    const script = existsSync(here) ? here : path.resolve('bench/torch/peer.py');
    this.child = spawn(python, [script, '--threads', String(threads)], { env });
    createInterface({ input: this.child.stdout }).on('line', (l) => this.pending.shift()?.(l));
    this.child.stderr.on('data', (d) => (this.stderr = (this.stderr + String(d)).slice(-2000)));
    this.child.on('exit', (code) => {
      this.exited = `exited with code ${code}: ${this.stderr.trim().split('\n').pop() ?? ''}`;
      for (const p of this.pending.splice(0)) p(JSON.stringify({ ok: false, error: this.exited }));
    });
  }

  /** A running peer with torch imported, or why there is none. */
  static async start(threads = os.availableParallelism?.() ?? os.cpus().length): Promise<{ peer: TorchPeer; info: TorchInfo } | { error: string }> {
    const python = process.env.LILY_TORCH_PYTHON ?? '/usr/bin/python3';
    if (!existsSync(python)) return { error: `${python} not found (apt-get install -y python3-torch libopenblas0-pthread)` };
    const peer = new TorchPeer(python, threads);
    const r = await peer.request({ cmd: 'info' });
    if (!r.ok) {
      peer.close();
      return { error: /No module named 'torch'/.test(String(r.error)) ? `no torch for ${python} (apt-get install -y python3-torch libopenblas0-pthread)` : String(r.error) };
    }
    return { peer, info: r as unknown as TorchInfo };
  }

  request(req: Record<string, unknown>): Promise<Record<string, unknown> & { ok: boolean; error?: string }> {
    if (this.exited) return Promise.resolve({ ok: false, error: this.exited });
    return new Promise((resolve) => {
      this.pending.push((line) => {
        try {
          resolve(JSON.parse(line));
        } catch {
          resolve({ ok: false, error: `bad answer: ${line.slice(0, 200)}` });
        }
      });
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  /** Build a step (see peer.py for the kinds); the number of trainable values, or an error. */
  async setup(name: string, kind: string, dims: Record<string, number>, opts: { compiled?: boolean; device?: 'cpu' | 'cuda' } = {}): Promise<{ trainable: number } | { error: string }> {
    const r = await this.request({ cmd: 'setup', name, kind, dims, compiled: !!opts.compiled, device: opts.device ?? 'cpu' });
    return r.ok ? { trainable: Number(r.trainable) } : { error: String(r.error) };
  }

  /** One training step; its time in ms as PyTorch measured it (the pipe excluded). */
  async step(name: string): Promise<number> {
    const r = await this.request({ cmd: 'step', name });
    if (!r.ok) throw new Error(`torch peer: ${r.error}`);
    return Number(r.ms);
  }

  /** the median of n steps run back to back inside the peer (no interleave), in ms */
  async alone(name: string, n: number): Promise<number> {
    const r = await this.request({ cmd: 'alone', name, n });
    if (!r.ok) throw new Error(`torch peer: ${r.error}`);
    return Number(r.ms);
  }

  /** the peer's peak resident set in bytes */
  async peakRss(): Promise<number | null> {
    const r = await this.request({ cmd: 'rss' });
    return r.ok ? Number(r.peak_rss) : null;
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}
