// The language server over stdio, as an editor talks to it: `lily lsp --stdio` spawned, LSP messages
// framed by hand (Content-Length headers), answers checked against the checker's own results.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;

class Client {
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private waiting = new Map<number, (r: any) => void>();
  readonly notifications: any[] = [];
  private listeners: (() => void)[] = [];
  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const headerEnd = this.buffer.indexOf('\r\n\r\n');
        if (headerEnd < 0) return;
        const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, headerEnd).toString())![1]);
        if (this.buffer.length < headerEnd + 4 + length) return;
        const msg = JSON.parse(this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8'));
        this.buffer = this.buffer.subarray(headerEnd + 4 + length);
        if ('id' in msg && this.waiting.has(msg.id)) this.waiting.get(msg.id)!(msg);
        else this.notifications.push(msg);
        this.listeners.forEach((l) => l());
      }
    });
  }
  private send(msg: object) {
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }), 'utf8');
    this.proc.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    this.proc.stdin.write(body);
  }
  request(method: string, params: object): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send({ id, method, params });
    });
  }
  notify(method: string, params: object) {
    this.send({ method, params });
  }
  /** The next notification matching `pred` (already received or still to come). */
  waitFor(pred: (n: any) => boolean): Promise<any> {
    return new Promise((resolve) => {
      const check = () => {
        const i = this.notifications.findIndex(pred);
        if (i >= 0) {
          resolve(this.notifications.splice(i, 1)[0]);
          this.listeners = this.listeners.filter((l) => l !== check);
        }
      };
      this.listeners.push(check);
      check();
    });
  }
}

const GOOD = `adapter LoRA(r: Dim = 8) on Linear[In, Out] {
  param A: [In, r]  = kaiming_uniform(a = sqrt(5.0))
  param B: [r, Out] = zeros
  delta(x: [N, In]) -> [N, Out] = let h = x @ A in h @ B
}
`;
const BAD = 'fn f(x: [N, D], w: [K, D]) -> [N, K] = x @ w\n';
const uri = (name: string) => `file:///tmp/${name}`;
/** LSP position (0-based line, UTF-16 character) of the k-th character of `needle` in `text`. */
const pos = (text: string, needle: string, k = 0) => {
  const offset = text.indexOf(needle) + k;
  const before = text.slice(0, offset).split('\n');
  return { line: before.length - 1, character: before.at(-1)!.length };
};

let client: Client;
beforeAll(async () => {
  const proc = spawn(process.execPath, ['bin/lily.js', 'lsp', '--stdio'], { cwd: root });
  client = new Client(proc);
  const init = await client.request('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
  expect(init.result.capabilities).toMatchObject({ hoverProvider: true, definitionProvider: true });
  client.notify('initialized', {});
}, 60_000);

afterAll(async () => {
  await client.request('shutdown', {});
  const exited = new Promise<number | null>((resolve) => client.proc.on('exit', resolve));
  client.notify('exit', {});
  expect(await exited).toBe(0);
});

describe('lily lsp --stdio', () => {
  it('publishes the checker\'s diagnostics for an opened document, with its range and code', async () => {
    client.notify('textDocument/didOpen', { textDocument: { uri: uri('bad.lily'), languageId: 'lily', version: 1, text: BAD } });
    const n = await client.waitFor((m) => m.method === 'textDocument/publishDiagnostics' && m.params.uri === uri('bad.lily'));
    expect(n.params.diagnostics).toHaveLength(1);
    const d = n.params.diagnostics[0];
    expect(d).toMatchObject({ code: 'E-shape', source: 'lily', severity: 1 });
    expect(d.message).toContain('found:    [N, D] @ [K, D]');
    expect(d.range.start).toEqual({ line: 0, character: 41 }); // the CLI reports 1:42 (1-based)
  });

  it('clears the diagnostics once the document is fixed', async () => {
    const fixed = 'fn f(x: [N, D], w: [D, K]) -> [N, K] = x @ w\n';
    client.notify('textDocument/didChange', { textDocument: { uri: uri('bad.lily'), version: 2 }, contentChanges: [{ text: fixed }] });
    const n = await client.waitFor((m) => m.method === 'textDocument/publishDiagnostics' && m.params.uri === uri('bad.lily') && m.params.diagnostics.length === 0);
    expect(n.params.diagnostics).toEqual([]);
  });

  it('hover shows the inferred shape of the expression under the cursor', async () => {
    client.notify('textDocument/didOpen', { textDocument: { uri: uri('good.lily'), languageId: 'lily', version: 1, text: GOOD } });
    const h = await client.request('textDocument/hover', { textDocument: { uri: uri('good.lily') }, position: pos(GOOD, 'h @ B', 0) });
    expect(h.result.contents.value).toContain('h: [N, r]');
    const whole = await client.request('textDocument/hover', { textDocument: { uri: uri('good.lily') }, position: pos(GOOD, 'h @ B', 2) });
    expect(whole.result.contents.value).toContain('[N, Out]');
  });

  it('go-to-definition finds a parameter, a let binding and a method argument', async () => {
    const def = async (needle: string, k: number) =>
      (await client.request('textDocument/definition', { textDocument: { uri: uri('good.lily') }, position: pos(GOOD, needle, k) })).result;
    expect((await def('x @ A', 4)).range.start).toEqual(pos(GOOD, 'A: [In'));
    expect((await def('h @ B', 0)).range.start).toEqual(pos(GOOD, 'h = x'));
    expect((await def('x @ A', 0)).range.start).toEqual(pos(GOOD, 'x: [N, In]'));
    expect(await def('Linear', 1)).toBeNull();
  });
});
