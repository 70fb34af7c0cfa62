// The package as a user gets it: pack the project, install the tarball into an empty folder (its
// dependencies from the npm cache that `npm ci` filled, else the npm registry), import the API from a
// plain .mjs file and train a LoRA for a few steps, type-check a .ts consumer with tsc, and run the
// installed `lily` command. Builds dist/ first when it is missing or older than the sources.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('.', import.meta.url).pathname;
const FIXTURES = join(root, '../shared/peft-fixtures'); // PEFT's golden files, beside the checkout
const dir = mkdtempSync(join(tmpdir(), 'lily-pack-'));
const consumer = join(dir, 'consumer');
const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });

function newestSource(d: string): number {
  let newest = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.(ts|ohm)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let packed: { filename: string; files: { path: string }[] };

beforeAll(() => {
  const stamp = join(root, 'dist/.build-stamp');
  const stale = !existsSync(stamp) || statSync(stamp).mtimeMs < Math.max(newestSource(join(root, 'compiler')), newestSource(join(root, 'runtime')), statSync(join(root, 'index.ts')).mtimeMs, statSync(join(root, 'node.ts')).mtimeMs);
  if (stale) npm(['run', 'build'], root);
  packed = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root))[0];
  execFileSync('mkdir', ['-p', consumer]);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  npm(['install', '--prefer-offline', '--no-package-lock', join(dir, packed.filename)], consumer);
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes of the files under a folder (links not followed). */
const bytesUnder = (d: string): number =>
  readdirSync(d, { withFileTypes: true }).reduce((sum, e) => sum + (e.isDirectory() ? bytesUnder(join(d, e.name)) : lstatSync(join(d, e.name)).size), 0);

describe('the packed package', () => {
  it('ships the compiled code, the stdlib, a LICENSE and no tests, benchmarks or CI files', () => {
    const files = packed.files.map((f) => f.path);
    for (const f of ['LICENSE', 'README.md', 'bin/lily.js', 'dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts', 'dist/compiler/cli/main.js', 'stdlib/adapters/lily.lily', 'docs/api.md', 'examples/peft/mlp.lily'])
      expect(files, f).toContain(f);
    expect(files.filter((f) => /\.test\.|^bench\/|^\.ci\/|^spec\/|^compiler\/|^runtime\/|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('installs lean: no gpu.js, no Dawn (webgpu), no tsx', () => {
    const installed = readdirSync(join(consumer, 'node_modules'));
    expect(installed).toContain('lily-lang');
    for (const heavy of ['gpu.js', 'webgpu', 'gl', 'tsx', 'typescript']) expect(installed).not.toContain(heavy);
    // The whole install, lily-lang and its dependencies (10 MB when this was written; it was 242 MB).
    expect(bytesUnder(join(consumer, 'node_modules')) / 2 ** 20).toBeLessThan(60);
  });

  it('a plain .mjs file imports the API and trains a LoRA: the loss falls', () => {
    writeFileSync(
      join(consumer, 'train.mjs'),
      `import { checkSource, compileTraining, referenceBackend } from 'lily-lang';
import { loadFile, cpuBackend } from 'lily-lang/node';
checkSource('fn f(x: [N, D]) -> [N] = sum[D](x * x)');
const program = loadFile('node_modules/lily-lang/stdlib/adapters/lora.lily');
const dims = { N: 16, In: 8, Out: 8, r: 2 };
// A target with a low-rank change of the frozen layer: t = x (W0 + u vᵀ) + b0.
const trainer = await compileTraining(program, 'LoRA', { dims, backend: cpuBackend(), optimizer: { kind: 'adamw', lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } });
const W0 = trainer.program.leaves.get('base.W').data, b0 = trainer.program.leaves.get('base.b').data;
const x = Float32Array.from({ length: 16 * 8 }, (_, i) => Math.sin(i * 1.7));
const t = new Float32Array(16 * 8);
for (let n = 0; n < 16; n++) for (let o = 0; o < 8; o++) {
  let s = b0[o];
  for (let i = 0; i < 8; i++) s += x[n * 8 + i] * (W0[i * 8 + o] + 0.5 * Math.cos(i) * Math.sin(o));
  t[n * 8 + o] = s;
}
const losses = [];
for (let i = 0; i < 40; i++) losses.push(await trainer.step({ x, t }));
const ref = await compileTraining(program, 'LoRA', { dims, backend: referenceBackend });
console.log(JSON.stringify({ first: losses[0], last: losses.at(-1), refFirst: await ref.step({ x, t }) }));
trainer.dispose();
`,
    );
    const r = spawnSync(process.execPath, ['train.mjs'], { cwd: consumer, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out.last).toBeLessThan(out.first / 10);
    expect(out.refFirst).toBeCloseTo(out.first, 4); // the browser-safe reference backend agrees
  });

  it("docs/api.md's worked example runs as written against the installed package", () => {
    const doc = readFileSync(join(root, 'docs/api.md'), 'utf8');
    const code = /## Worked example[\s\S]*?```js\n([\s\S]*?)```/.exec(doc)![1];
    writeFileSync(join(consumer, 'example.mjs'), code);
    const r = spawnSync(process.execPath, ['example.mjs'], { cwd: consumer, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const loss = Number(/loss after 100 steps: (\S+)/.exec(r.stdout)![1]);
    expect(loss).toBeLessThan(1e-4);
    expect(r.stdout).toContain('saved my-lora.safetensors: A, B');
  });

  it("docs/api.md's PEFT example runs against the installed package: train, savePeft, loadPeft", () => {
    const doc = readFileSync(join(root, 'docs/api.md'), 'utf8');
    const code = /## PEFT adapter folders[\s\S]*?```js\n([\s\S]*?)```/.exec(doc)![1];
    writeFileSync(join(consumer, 'peft-example.mjs'), code);
    const r = spawnSync(process.execPath, ['peft-example.mjs'], { cwd: consumer, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('fc1: LoRA, fc2: LoRA');
    expect(r.stdout).toContain('loaded 4 tensors back, max |Δ| = 0');
    expect(JSON.parse(readFileSync(join(consumer, 'mlp-lora/adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8 });
  });

  it.skipIf(!existsSync(join(FIXTURES, 'README.md')))("the installed package loads PEFT's own lily-stack folder (a golden file) and reproduces PEFT's output", () => {
    // ../shared/peft-fixtures: written by PEFT's code; y_adapted_f64 is PEFT's output in float64.
    writeFileSync(
      join(consumer, 'peft-golden.mjs'),
      `import { runEntry, decodeSafetensors, encodePeft } from 'lily-lang';
import { loadPeft, readAdapterFolder } from 'lily-lang/node';
import { readFileSync } from 'node:fs';
const fx = ${JSON.stringify(join(FIXTURES, 'lily-stack'))};
const model = loadPeft(fx + '/adapter', ${JSON.stringify(join(root, 'examples/peft/stack.lily'))}, { model: 'LilyStack', base: fx + '/base.safetensors' });
const read = (f) => decodeSafetensors(readFileSync(f), f).tensors;
const x = read(fx + '/inputs.safetensors').get('x');
const y = runEntry(model.checked, model.entry, { settings: { ...model.settings, N: x.shape[0] }, inputs: new Map([['x', { shape: x.shape, data: Float64Array.from(x.data) }]]), given: model.given, attach: model.attach }).output.t.data;
const want = read(fx + '/expected.safetensors').get('y_adapted_f64').data;
let err = 0, scale = 0;
for (let i = 0; i < want.length; i++) { err = Math.max(err, Math.abs(y[i] - want[i])); scale = Math.max(scale, Math.abs(want[i])); }
const again = read(fx + '/adapter/adapter_model.safetensors');
const ours = decodeSafetensors(encodePeft(model).weights, 'ours').tensors;
const same = [...again].every(([k, t]) => ours.get(k)?.data.every((v, i) => v === t.data[i]));
console.log(JSON.stringify({ rel: err / scale, n: want.length, keys: ours.size === again.size, same, type: readAdapterFolder(fx + '/adapter').config.peft_type }));
`,
    );
    const r = spawnSync(process.execPath, ['peft-golden.mjs'], { cwd: consumer, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ n: 6 * 4, keys: true, same: true, type: 'LILY' });
    expect(out.rel).toBeLessThan(1e-10);
  });

  it('a TypeScript consumer type-checks against the shipped declarations (strict, no skipLibCheck)', () => {
    writeFileSync(
      join(consumer, 'consumer.ts'),
      `import { checkSource, compileTraining, explain, LilyError, encodePeft, trainingOptions, type AdaptedModel, type Trainer, type Explanation } from 'lily-lang';
import { loadFile, cpuBackend, saveSafetensors, loadModel, loadPeft, savePeft, type LoadedModel } from 'lily-lang/node';
const program = checkSource('fn f(x: [N, D]) -> [N] = sum[D](x * x)', 'f.lily');
const lora = loadFile('node_modules/lily-lang/stdlib/adapters/lora.lily');
const e: Explanation = explain(lora, 'LoRA', { N: 8, In: 4, Out: 4, r: 2 });
const trainer: Trainer = await compileTraining(lora, 'LoRA', { dims: { N: 8, In: 4, Out: 4, r: 2 }, backend: cpuBackend() });
const loss: number = await trainer.step({ x: new Float32Array(32), t: new Float32Array(32) });
saveSafetensors('out.safetensors', await trainer.namedParameters());
try { checkSource('fn'); } catch (err) { if (err instanceof LilyError) console.log(err.diagnostics[0].code, program.fns.size, e.params, loss); }
const m: LoadedModel = loadModel('node_modules/lily-lang/examples/peft/mlp.lily', { model: 'MLP', adapter: 'lora', targetModules: ['fc1'], hparams: { r: 2 } });
const adapted: AdaptedModel = m;
const t2: Trainer = await compileTraining(m.checked, m.entry, { ...trainingOptions(m, 4), backend: cpuBackend() });
const dir: string = await savePeft('out-peft', m, t2);
const back: LoadedModel = loadPeft(dir, 'node_modules/lily-lang/examples/peft/mlp.lily', { model: 'MLP' });
const bytes: Uint8Array = encodePeft(adapted, await t2.namedParameters()).weights;
console.log(back.fromPeft.size, bytes.length);
`,
    );
    // A deliberately wrong use must fail, or this check could not fail at all.
    writeFileSync(join(consumer, 'wrong.ts'), `import { compileTraining } from 'lily-lang';\nconst n: string = await compileTraining(null as never, 'LoRA', { dims: {} });\n`);
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    // One run for both files (tsc's start-up dominates); the standard library's own .d.ts is not re-checked.
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipDefaultLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', 'consumer.ts', 'wrong.ts'], { cwd: consumer, encoding: 'utf8' });
    const errors = r.stdout.split('\n').filter((l) => /error TS/.test(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^wrong\.ts\(2,7\): error TS2322: Type 'Trainer' is not assignable to type 'string'/);
  });

  it('the installed lily command runs, with one JSON object under --json', () => {
    const bin = join(consumer, 'node_modules/.bin/lily');
    const v = spawnSync(bin, ['--version'], { cwd: consumer, encoding: 'utf8' });
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
    const c = spawnSync(bin, ['check', 'node_modules/lily-lang/stdlib', '--json'], { cwd: consumer, encoding: 'utf8' });
    expect(c.status).toBe(0);
    expect(JSON.parse(c.stdout).files.length).toBeGreaterThan(10);
    const bad = spawnSync(bin, ['check', 'nope.lily', '--json'], { cwd: consumer, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout).error).toMatchObject({ code: 'E-file', file: 'nope.lily' });
  });

  it('the installed language server answers initialize and shuts down cleanly', async () => {
    // LSP over the child's stdin/stdout (Content-Length framing), stdin kept open as an editor does.
    const frame = (msg: object) => {
      const body = JSON.stringify({ jsonrpc: '2.0', ...msg });
      return `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    };
    const server = spawn(join(consumer, 'node_modules/.bin/lily'), ['lsp', '--stdio'], { cwd: consumer });
    let out = '';
    const waiting: (() => void)[] = [];
    server.stdout.on('data', (d) => {
      out += d;
      waiting.forEach((check) => check());
    });
    const replied = (id: number) =>
      new Promise<void>((resolve) => {
        const check = () => out.includes(`"id":${id}`) && resolve();
        waiting.push(check);
        check();
      });
    server.stdin.write(frame({ id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} } }));
    await replied(1);
    const first = JSON.parse(/\r\n\r\n(\{.*?\})(?=Content-Length|$)/s.exec(out)![1]);
    expect(first).toMatchObject({ id: 1, result: { capabilities: { hoverProvider: true, definitionProvider: true } } });
    server.stdin.write(frame({ id: 2, method: 'shutdown' }));
    await replied(2);
    const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
    server.stdin.write(frame({ method: 'exit' }));
    expect(await exited).toBe(0);
  });
});
