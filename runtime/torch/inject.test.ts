// What a PyTorch user of the exported modules gets from inject() and the wrapper (inject_check.py
// measures, this test judges): PiSSA computed in torch from the model's own weights, VB-LoRA's bank
// one nn.Parameter across targets, dropout switched by train()/eval(), SingLoRA's ramp following
// advance_step(), LoRA+'s ratio in param_groups(), DoRA's magnitude vector as PEFT keeps it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../compiler/ir/prims.ts';
import { exportAdapterToTorch } from '../../compiler/codegen/torch-module.ts';
import { loadFile } from '../../compiler/frontend.ts';
import { PYTHON, torchMissing } from './check.ts';

const root = new URL('../..', import.meta.url).pathname;
const missing = torchMissing();

const EXPORTS: [string, string, Record<string, number>][] = [
  ['stdlib/adapters/pissa.lily', 'PiSSA', { r: 3 }],
  ['stdlib/adapters/vblora.lily', 'VBLoRA', { r: 2, h: 6, b: 4, k: 2 }],
  ['stdlib/adapters/lora.lily', 'LoRA', { r: 2, drop: 0.5 }],
  ['stdlib/adapters/singlora.lily', 'SingLoRA', { r: 2 }],
  ['stdlib/adapters/pissa.lily', 'MiLoRA', { r: 3 }],
  ['stdlib/adapters/lora.lily', 'LoRAPlus', { r: 2 }],
  ['stdlib/adapters/dora.lily', 'DoRA', { r: 2 }],
];

describe.skipIf(missing)(`exported modules in a PyTorch model${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let m: Record<string, number | number[] | string[]>;
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'lily-inject-'));
    const modules: Record<string, string> = {};
    for (const [file, adapter, dims] of EXPORTS) {
      modules[adapter] = join(dir, `${adapter}.py`);
      writeFileSync(modules[adapter], exportAdapterToTorch(loadFile(join(root, file)), adapter, { settings: dims, file, sha256: 'test' }).code);
    }
    const r = spawnSync(PYTHON, [join(root, 'runtime/torch/inject_check.py')], { input: JSON.stringify({ modules }), encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(r.stderr);
    m = JSON.parse(r.stdout);
  }, 150_000);

  it('PiSSA: inject computes A, B and the residual from each layer (SVD in torch); the model starts where it was', () => {
    expect(m.pissa_y_at_init).toBeLessThan(1e-12);
    expect(m.pissa_rank_r_part).toBeLessThan(1e-12); // s·A B = the best rank-r part of W0
    expect(m.pissa_residual).toBeLessThan(1e-12);
    expect(m.pissa_trainable).toEqual(['PiSSA.A', 'PiSSA.B']); // the residual is frozen
  });

  it('MiLoRA and SingLoRA: one export serves layers of every shape (min(In, Out) − r, max(In, Out))', () => {
    expect(m.milora_y_at_init).toBeLessThan(1e-12);
    expect(m.milora_minor_part).toBeLessThan(1e-12); // s·A B = the r minor components of W0
    expect(m.singlora_shapes).toEqual([[16, 2], [16, 2], [9, 2]]);
    expect(m.singlora_shapes_error).toBeLessThan(1e-12);
  });

  it('VB-LoRA: one vector bank (one nn.Parameter) for the four layers of two targets, trained by all', () => {
    expect(m.vblora_layers).toBe(4);
    expect(m.vblora_distinct_banks).toBe(1);
    expect(m.vblora_bank_grad).toBeGreaterThan(0);
  });

  it('LoRA dropout: random in train(), plain LoRA in eval()', () => {
    expect(m.lora_train_calls_differ).toBeGreaterThan(1e-3);
    expect(m.lora_eval_calls_differ).toBe(0);
    expect(m.lora_eval_is_plain).toBeLessThan(1e-12);
  });

  it("SingLoRA: the ramp follows advance_step (0 at step 0, linear to T, then flat)", () => {
    expect(m.singlora_step0_is_base).toBeLessThan(1e-12);
    expect(m.singlora_moves).toBeGreaterThan(1e-3);
    expect(m.singlora_half_ramp).toBeLessThan(1e-12);
    expect(m.singlora_after_T_flat).toBeLessThan(1e-12);
  });

  it("LoRA+: param_groups gives B the learning rate times the adapter's ratio", () => {
    expect(m.loraplus_lr_of_B).toEqual([0.016]);
    expect(m.loraplus_lr_of_rest).toEqual([0.001]);
  });

  it("DoRA: PEFT's parameters (lora_magnitude_vector is m itself, starting at ‖W0‖ per row), the layer starting at W0", () => {
    expect(m.dora_trainable).toEqual(['lora_A.weight', 'lora_B.weight', 'lora_magnitude_vector']);
    expect(m.dora_m_is_row_norm).toBeLessThan(1e-12);
    expect(m.dora_y_at_init).toBeLessThan(1e-12);
  });
});
