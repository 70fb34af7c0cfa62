// lily train checkpoints, in process: exact resume, checks before step 1, divergence.
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lily } from './run-in-process.ts';
import { loadSafetensors } from '../../runtime/checkpoint/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'lily-ck-'));
const LILY = ['train', 'stdlib/adapters/lily.lily', '--adapter', 'Lily', '--backend', 'cpu'];
const bytes = (...p: string[]) => readFileSync(join(...p));

describe('lily train checkpoints', () => {
  it('200 steps = 100 + resumed 100: bit-identical weights, optimiser moments and trainer state', async () => {
    const straight = join(dir, 'straight');
    const resumed = join(dir, 'resumed');
    expect((await lily(...LILY, '--steps', '200', '--save-every', '100', '--save', straight)).code).toBe(0);
    // The first half on its own, then continued from its checkpoint (a separate run).
    const half = join(dir, 'half');
    expect((await lily(...LILY, '--steps', '100', '--save', half)).code).toBe(0);
    expect(readdirSync(half)).toContain('checkpoint-100');
    const r = await lily(...LILY, '--steps', '200', '--resume', half, '--save', resumed);
    expect(r.code).toBe(0);
    expect(r.err).toContain('resuming at step 100');
    for (const f of ['adapter_model.safetensors', 'adapter_config.json', 'trainer_state.safetensors', 'trainer_state.json'])
      expect(bytes(resumed, 'checkpoint-200', f).equals(bytes(straight, 'checkpoint-200', f)), f).toBe(true);
    // Not vacuous: the moments are there and the second half changed the weights.
    expect([...loadSafetensors(join(straight, 'checkpoint-200', 'trainer_state.safetensors')).tensors.keys()].sort()).toEqual(['A', 'B', 'R', 'm:A', 'm:B', 'm:R', 'v:A', 'v:B', 'v:R']);
    expect(bytes(straight, 'checkpoint-100', 'adapter_model.safetensors').equals(bytes(straight, 'checkpoint-200', 'adapter_model.safetensors'))).toBe(false);
    // The --save folder is itself the newest adapter, in PEFT's layout.
    expect(bytes(straight, 'adapter_model.safetensors').equals(bytes(straight, 'checkpoint-200', 'adapter_model.safetensors'))).toBe(true);
  });

  // Programs that read `step`: SingLoRA's ramp, DyLoRA's per-step rank draw, LoRA's dropout masks.
  // Restarting `step` at 0 on resume would change all three trajectories.
  for (const [file, adapter, dims] of [
    ['singlora.lily', 'SingLoRA', 'In=16,Out=12,r=4,T=12'],
    ['dylora.lily', 'DyLoRA', 'In=16,Out=12,r=4'],
    ['lora.lily', 'LoRA', 'In=16,Out=12,r=4,drop=0.3'],
  ])
    it(`${adapter}: 16 steps = 8 + resumed 8, bit-identical (the step counter continues)`, async () => {
      const run = (...extra: string[]) => lily('train', `stdlib/adapters/${file}`, '--adapter', adapter, '--backend', 'cpu', '--dims', dims, '--batch', '8', ...extra);
      const [straight, half, resumed] = ['straight', 'half', 'resumed'].map((d) => join(dir, `${adapter}-${d}`));
      expect((await run('--steps', '16', '--save', straight)).code).toBe(0);
      expect((await run('--steps', '8', '--save', half)).code).toBe(0);
      const r = await run('--steps', '16', '--resume', half, '--save', resumed);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toContain('resuming at step 8');
      for (const f of ['adapter_model.safetensors', 'trainer_state.safetensors'])
        expect(bytes(resumed, 'checkpoint-16', f).equals(bytes(straight, 'checkpoint-16', f)), f).toBe(true);
    });

  it('resuming into another program or other settings is an error; --keep keeps the newest', async () => {
    const root = join(dir, 'keep');
    expect((await lily(...LILY, '--steps', '40', '--save-every', '10', '--keep', '2', '--save', root)).code).toBe(0);
    expect(readdirSync(root).filter((n) => n.startsWith('checkpoint-')).sort()).toEqual(['checkpoint-30', 'checkpoint-40']);
    const other = await lily(...LILY, '--dims', 'In=64,Out=64,r=8', '--steps', '50', '--resume', root);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/written by a different program/);
    const lr = await lily(...LILY, '--lr', '0.02', '--steps', '50', '--resume', root);
    expect(lr.code).toBe(1);
    expect(lr.err).toMatch(/other settings: lr 0.01 \(now 0.02\)/);
    const done = await lily(...LILY, '--steps', '40', '--resume', root);
    expect(done.err).toMatch(/already taken 40 steps/);
  });

  it('a missing tensor in a checkpoint is an error, never re-initialised', async () => {
    const root = join(dir, 'damaged');
    expect((await lily(...LILY, '--steps', '10', '--save', root)).code).toBe(0);
    // Drop the moments of B from the trainer state.
    const { encodeSafetensors } = await import('../../runtime/checkpoint/safetensors.ts');
    const file = join(root, 'checkpoint-10', 'trainer_state.safetensors');
    const t = loadSafetensors(file).tensors;
    t.delete('v:B');
    writeFileSync(file, encodeSafetensors(t));
    const r = await lily(...LILY, '--steps', '20', '--resume', root, '--save', root);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/missing 1 tensor\(s\) the program needs: v:B/);
  });

  it('a bad --save target fails before step 1 with exit 1', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const link = join(dir, 'to-null');
    symlinkSync('/dev/null', link);
    for (const [target, message] of [
      ['/dev/null', /is a device/],
      [link, /is a device \(through a symbolic link\)/],
      [file, /exists and is not a folder/],
      [join(file, 'sub'), /cannot use .*ENOTDIR/],
    ] as const) {
      const r = await lily(...LILY, '--steps', '5', '--save', target);
      expect(r.code, target).toBe(1);
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/step 1/);
    }
  });

  it('divergence (AdamW, lr 5) stops with exit 1 and keeps the last good checkpoint, which gives a finite loss', async () => {
    const root = join(dir, 'diverge');
    const r = await lily(...LILY, '--lr', '5', '--steps', '40', '--save-every', '1', '--save', root);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error\[E-train\]: the loss became .* at step \d+, above the divergence threshold/);
    const good = /the last good state \(step (\d+)\) is in (\S+)/.exec(r.err);
    expect(good).not.toBeNull();
    const step = Number(good![1]);
    // No checkpoint of a worse state exists, and the folder's adapter is the last good one.
    expect(readdirSync(root).filter((n) => n.startsWith('checkpoint-')).map((n) => Number(n.slice(11))).every((s) => s <= step)).toBe(true);
    expect(bytes(root, 'adapter_model.safetensors').equals(bytes(good![2], 'adapter_model.safetensors'))).toBe(true);
    // It gives a finite loss: continue it one step with the threshold off.
    const again = await lily(...LILY, '--lr', '5', '--steps', String(step + 1), '--resume', root, '--max-loss', '1e300', '--json');
    expect(again.code).toBe(0);
    expect(Number.isFinite(JSON.parse(again.out).firstLoss)).toBe(true);
  });

  it('NaN (SGD, huge lr) stops with exit 1; a run that diverges before its first checkpoint says nothing was written', async () => {
    const root = join(dir, 'nan');
    const r = await lily('train', 'stdlib/adapters/lora.lily', '--adapter', 'LoRA', '--optimizer', 'sgd', '--lr', '100', '--steps', '50', '--backend', 'cpu', '--save', root);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error\[E-train\]: the loss became (NaN|Infinity|[0-9.e+]+) at step/);
    expect(r.err).toContain('no checkpoint was written by this run');
    expect(existsSync(join(root, 'adapter_model.safetensors'))).toBe(false);
    expect(r.err).not.toMatch(/at .*\.ts:\d+/);
  });
});
