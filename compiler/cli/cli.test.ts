// The CLI end to end, in process: exit codes, messages, and no stack traces.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lily } from './run-in-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'lily-cli-'));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('lily CLI', () => {
  it('check: stdlib passes', async () => {
    const r = await lily('check', 'stdlib');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('adapter Lily');
  });

  it('check: a malformed program exits 1 with file:line:col, a caret, and no stack trace', async () => {
    const f = write('bad.lily', 'adapter X(r: Dim) on Linear[In, Out] {\n  param A: [In, r = zeros\n}\n');
    const r = await lily('check', f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${f}:2:19: error[E-parse]`);
    expect(r.err).toMatch(/\^/);
    expect(r.err).not.toMatch(/at .*\.ts:\d+/);
  });

  it('check: a shape error names what was expected and found', async () => {
    const f = write('shape.lily', 'fn f(x: [N, D], w: [K, D]) -> [N, K] = x @ w\n');
    const r = await lily('check', f);
    expect(r.code).toBe(1);
    expect(r.err).toContain(':1:42: error[E-shape]');
    expect(r.err).toContain('found:    [N, D] @ [K, D]');
  });

  it('check: a missing file is a clear error', async () => {
    const r = await lily('check', join(dir, 'nope.lily'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot read');
  });

  it('run: evaluates a function on given inputs', async () => {
    const f = write('f.lily', 'fn f(x: [N, D]) -> [N] = sum[D](x * x)\n');
    const r = await lily('run', f, '--fn', 'f', '--inputs', 'x=[[1,2],[3,4]]', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).output).toEqual([5, 25]);
  });

  it('run: bad --dims are a usage error, not a crash', async () => {
    const r = await lily('run', 'stdlib/adapters/lora.lily', '--fn', 'LoRA', '--dims', 'N=two');
    expect(r.code).toBe(1);
    expect(r.err).toContain('--dims');
  });

  it('params: reproduces the PEFT count for Lily', async () => {
    const r = await lily('params', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--dims', 'In=768,Out=768,r=16,E=4,stride=3', '--layers', '12', '--json');
    expect(r.code).toBe(0);
    const unit = JSON.parse(r.out).units[0];
    expect(unit.trainable).toBe(Math.ceil(12 / 3) * 16 * 768 + 4 * 16 * 768 + 12 * 16 * 4);
  });

  it('compile --explain --json: the fields, the A.2 rewrite, parameters, mergeability', async () => {
    const r = await lily('compile', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--dims', 'N=1024,In=768,Out=768,r=16,E=4', '--explain', '--json');
    expect(r.code).toBe(0);
    const e = JSON.parse(r.out);
    for (const k of ['naive', 'optimized']) {
      expect(typeof e.flops.forward[k]).toBe('number');
      expect(typeof e.flops.backward[k]).toBe('number');
    }
    expect(e.flops.forward.optimized).toBeLessThan(e.flops.forward.naive);
    expect(e.rewrites.some((w: { folds: { applied: boolean }[]; location: string }) => w.folds.some((f) => f.applied) && /lily\.lily:\d+:\d+/.test(w.location))).toBe(true);
    expect(e.params).toBe(768 * 16 + 16 * 4 + 4 * 16 * 768);
    expect(e.mergeable).toBe(false);
  });

  it('compile --explain on LilyToken reports the refused rewrite and its reason', async () => {
    const r = await lily('compile', 'stdlib/adapters/lily.lily', '--adapter', 'LilyToken', '--dims', 'N=64,In=32,Out=24,r=4,E=3', '--explain');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/refused expert sum over B\[E, r, Out\]: p'?\[[^\]]+\] varies per token/);
  });

  it('compile --timings: every stage, the SVD initialiser, the kernel plan and the prepare, timed (JSON)', async () => {
    const r = await lily('compile', 'stdlib/adapters/pissa.lily', '--adapter', 'PiSSA', '--dims', 'N=8,In=12,Out=10,r=2', '--timings', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { total_ms: number; phases_ms: Record<string, number> };
    const phases = ['check', 'lower', 'lower/initialise from', 'verify', 'simplify', 'hoist', 'autodiff', 'simplify-2', 'contract', 'contract/per-region plan', 'kernel plan', 'prepare', 'prepare/kernels', 'prepare/wasm render', 'prepare/wasm compile', 'load values'];
    for (const p of phases) expect(j.phases_ms[p], p).toBeGreaterThanOrEqual(0);
    const top = Object.entries(j.phases_ms).filter(([p]) => !p.includes('/'));
    expect(j.total_ms).toBeCloseTo(top.reduce((a, [, ms]) => a + ms, 0), 6);
    const text = await lily('compile', 'stdlib/adapters/pissa.lily', '--adapter', 'PiSSA', '--dims', 'N=8,In=12,Out=10,r=2', '--timings');
    expect(text.out).toMatch(/^ {2}initialise from\s+[\d.]+ ms/m);
    expect(text.out).toMatch(/^total\s+[\d.]+ ms\s+100%$/m);
  });

  it('compile --dump-after prints the IR after a stage; a bad stage name is a usage error', async () => {
    const ok = await lily('compile', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--dims', 'N=2,In=3,Out=3,r=1', '--dump-after', 'lower');
    expect(ok.out).toMatch(/param A \[3,1\]/);
    expect(ok.out).toMatch(/out y = %\d+/);
    const bad = await lily('compile', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--dump-after', 'nope');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('expected: lower, verify');
  });

  it('verify passes on a stdlib adapter and fails, with a counterexample, when a rewrite is broken', async () => {
    const ok = await lily('verify', 'stdlib/adapters/lora.lily', '--runs', '5');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('✓ LoRA');
    const bad = await lily('verify', 'stdlib/adapters/lily.lily', '--adapter', 'LilyToken', '--inject-fault', 'unsound-expert-fold');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/counterexample \(shrunk\): --dims .*N=\d/);
  });

  it('verify on a file of models and functions verifies each, and names what it cannot verify', async () => {
    const mlp = await lily('verify', 'stdlib/layers/mlp.lily', '--runs', '2');
    expect(mlp.code, mlp.err).toBe(0);
    for (const name of ['MLP', 'linear', 'gelu_mlp']) expect(mlp.out).toContain(`✓ ${name}: 2 random cases`);
    const one = await lily('verify', 'stdlib/layers/mlp.lily', '--adapter', 'linear', '--runs', '2', '--json');
    expect(JSON.parse(one.out).adapters.map((r: { adapter: string }) => r.adapter)).toEqual(['linear']);
    const none = await lily('verify', 'stdlib/layers/mlp.lily', '--adapter', 'nope');
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no adapter, model or function named 'nope'.*\n.*expected: MLP, linear, gelu_mlp/s);
  });

  it('merge prints the largest |ΔW| of a 2 × 200000 weight (a spread of its entries overflowed the stack)', async () => {
    const r = await lily('merge', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--dims', 'In=2,Out=200000,r=1', '--params', 'random');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/ΔW: \[2, 200000\], max \|ΔW\| = \d/);
  });

  it('merge: LoRA yields ΔW; Lily is refused because its router depends on x', async () => {
    const lora = await lily('merge', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--dims', 'In=4,Out=3,r=2', '--json');
    expect(lora.code).toBe(0);
    const v = JSON.parse(lora.out);
    expect(v.mergeable).toBe(true);
    expect(v.deltaW).toHaveLength(4);
    const l = await lily('merge', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--dims', 'In=4,Out=3,r=2');
    expect(l.code).toBe(1);
    expect(l.out).toContain('router');
  });

  it("train: the default run lowers the loss and saves what PEFT's save_pretrained writes", async () => {
    const out = join(dir, 'lily-adapter');
    const r = await lily('train', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--steps', '60', '--backend', 'cpu', '--save', out, '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.lastLoss).toBeLessThan(s.firstLoss / 5);
    const { loadSafetensors } = await import('../../runtime/checkpoint/safetensors.ts');
    // A stand-alone adapter is saved as if its frozen layer were a module named `base`.
    const names = [...loadSafetensors(join(out, 'adapter_model.safetensors')).tensors.keys()].sort();
    expect(names).toEqual(['base_model.model.base.lily_A.weight', 'base_model.model.base.lily_B.weight', 'base_model.model.base.lily_router.weight']);
    // A second save into the same folder is refused unless --overwrite.
    const again = await lily('train', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--steps', '1', '--backend', 'cpu', '--save', out);
    expect(again.code).toBe(1);
    expect(again.err).toContain('already holds an adapter');
  });

  it('train: a diverging run stops with E-train and a hint, not a stack trace', async () => {
    const r = await lily('train', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--optimizer', 'sgd', '--lr', '100', '--steps', '50', '--backend', 'cpu');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error\[E-train\]: the loss became \S+ at step \d+/);
    expect(r.err).toContain('lower --lr');
    expect(r.err).not.toMatch(/at .*\.ts:\d+/);
  });

  it('train: the adapters attached to a model learn the hidden changes of its adapted layers', async () => {
    const r = await lily('train', 'examples/lily-on-mlp.lily', '--adapter', 'DeepMLP', '--dims', 'In=16,H=8,K=4,L=3', '--batch', '32', '--steps', '80', '--lr', '0.02', '--backend', 'cpu', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.firstLoss).toBeGreaterThan(1e-4); // the teacher really differs from the frozen model
    expect(s.lastLoss).toBeLessThan(s.firstLoss / 4);
  });

  it('train --resume continues from a --save folder (model with attached adapters, shared parameters)', async () => {
    const ck = join(dir, 'deep');
    const args = ['train', 'examples/lily-on-mlp.lily', '--adapter', 'DeepMLP', '--dims', 'In=16,H=8,K=4,L=3', '--batch', '32', '--lr', '0.02', '--backend', 'cpu', '--json'];
    const first = JSON.parse((await lily(...args, '--steps', '40', '--save', ck)).out);
    const { loadSafetensors } = await import('../../runtime/checkpoint/safetensors.ts');
    const keys = [...loadSafetensors(join(ck, 'adapter_model.safetensors')).tensors.keys()];
    // PEFT's layout: one full copy of the shared B per layer.
    expect(keys.filter((k) => k.endsWith('lily_B.weight')).sort()).toEqual([0, 1, 2].map((i) => `base_model.model.hidden.${i}.fc.lily_B.weight`));
    const resumed = JSON.parse((await lily(...args, '--steps', '45', '--resume', ck)).out);
    expect(resumed.firstLoss).toBeLessThan(first.firstLoss / 2);
    const bad = await lily('train', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--resume', ck, '--steps', '1');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('written by a different program');
  });

  it('train on the embedded Fashion-MNIST: a base learns, saves, and loads frozen under adapters', async () => {
    const base = join(dir, 'fmnist-base.safetensors');
    const common = ['--data', 'fashion-mnist', '--backend', 'cpu', '--json'];
    const b = JSON.parse((await lily('train', 'examples/fashion.lily', '--adapter', 'Base', '--steps', '150', '--lr', '0.003', '--save', base, ...common)).out);
    expect(b.testAccuracy.before).toBeLessThan(0.3);
    expect(b.testAccuracy.after).toBeGreaterThan(0.6);
    const a = JSON.parse((await lily('train', 'examples/fashion.lily', '--adapter', 'BaseLily', '--base', base, '--steps', '5', '--lr', '0.01', ...common)).out);
    // The adapted model starts exactly where the frozen base ended (Lily's B starts at zero).
    expect(a.testAccuracy.before).toBeCloseTo(b.testAccuracy.after, 6);
    // On a changed task (two classes relabelled) the frozen base is worse, and the adapters recover.
    const s = JSON.parse((await lily('train', 'examples/fashion.lily', '--adapter', 'BaseLily', '--base', base, '--swap-classes', '0,6', '--steps', '150', '--lr', '0.01', ...common)).out);
    expect(s.testAccuracy.before).toBeLessThan(b.testAccuracy.after - 0.05);
    expect(s.testAccuracy.after).toBeGreaterThan(s.testAccuracy.before + 0.05);
  });
});
