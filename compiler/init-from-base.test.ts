// Initialisers computed once from the base layer (`from EXPR`), checked against PyTorch float64
// (spec/fixtures/svd-init.json, made by make-svd-init.py with PEFT's PiSSA formula), and the hoist
// stage: work on frozen values leaves the training step.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as T from '../runtime/tensor/index.ts';
import { LilyError } from './diagnostics.ts';
import { checkSource } from './frontend.ts';
import { instantiate } from './interp/instance.ts';
import { compile, flopsSplit } from './pipeline.ts';

const fixture = JSON.parse(readFileSync(new URL('../spec/fixtures/svd-init.json', import.meta.url), 'utf8'));
const adapters = (f: string) => checkSource(readFileSync(new URL(`../stdlib/adapters/${f}`, import.meta.url), 'utf8'), f);
const fromNested = (rows: number[][]) => T.tensor([rows.length, rows[0].length], Float64Array.from(rows.flat()));
const near = (got: T.Tensor, want: number[][]) => {
  const w = fromNested(want);
  expect(got.shape).toEqual(w.shape);
  got.data.forEach((v, i) => expect(Math.abs(v - w.data[i]), `entry ${i}: ${v} vs ${w.data[i]}`).toBeLessThan(1e-10));
};

describe('initialisers from the base layer', () => {
  const { In, Out, r, alpha } = fixture;
  const s = alpha / r;
  const given = new Map([['base.W', fromNested(fixture.baseW)], ['base.b', T.zeros([Out])]]);
  const settings = { In, Out, r, alpha };

  for (const name of ['PiSSA', 'MiLoRA'])
    it(`${name}: s·A B and the residual weight match PyTorch (PEFT's formula)`, () => {
      const inst = instantiate(adapters('pissa.lily'), name, { settings, given });
      const AB = T.map(T.matmul(inst.tensors.get('A')!, inst.tensors.get('B')!), (v) => v * s);
      near(AB, fixture[name].AB);
      near(inst.tensors.get('Wres')!, fixture[name].Wres);
    });

  it('LoRA-XS: the frozen A B is the rank-r truncation of W0 (PyTorch)', () => {
    const inst = instantiate(adapters('loraxs.lily'), 'LoRAXS', { settings, given });
    near(T.matmul(inst.tensors.get('A')!, inst.tensors.get('B')!), fixture.LoRAXS.AB);
  });

  it('an initial value of the wrong shape is a located error', () => {
    const src = `adapter Bad(r: Dim = 2) on Linear[In, Out] {\n  param A: [In, r] = from base.W\n  delta(x: [N, In]) -> [N, Out] = x @ A @ zeros[r, Out]()\n}\n`;
    const e = (() => {
      try {
        checkSource(src, 'bad.lily');
      } catch (err) {
        return err as LilyError;
      }
    })();
    expect(e?.diagnostics[0].code).toBe('E-shape');
    expect([e?.diagnostics[0].span?.line, e?.diagnostics[0].span?.col]).toEqual([2, 27]);
  });
});

describe('hoisting values that depend only on frozen ones', () => {
  it('‖W0‖ written in the forward (as DoRA was, before `from`) is computed once at load: fewer FLOPs per step', () => {
    const src = `adapter DoRAOffset(r: Dim = 2) on Linear[In, Out] {
  param A: [In, r] = kaiming_uniform(a = sqrt(5.0))
  param B: [r, Out] = zeros
  param dm: [Out] = zeros
  forward(x: [N, In]) -> [N, Out] =
    let W = base.W + A @ B in
    (x @ W) * ((norm[In](base.W) + dm) / detach(norm[In](W))) + base.b
}`;
    const dora = checkSource(src, 'dora-offset.lily');
    const settings = { N: 16, In: 32, Out: 24, r: 4 };
    const hoisted = compile(dora, 'DoRAOffset', { settings, forwardOnly: true });
    const inline = compile(dora, 'DoRAOffset', { settings, forwardOnly: true, skip: ['hoist'] });
    expect(hoisted.hoisted?.map((h) => h.shape)).toEqual([[24]]);
    expect(flopsSplit(hoisted.graph).forward).toBeLessThan(flopsSplit(inline.graph).forward - 32 * 24);
  });

  it("PiSSA's step computes nothing from W0: the residual and SVD are buffers", () => {
    const p = compile(adapters('pissa.lily'), 'PiSSA', { settings: { N: 4, In: 6, Out: 5, r: 2 }, params: 'init' });
    expect(p.graph.live().some((id) => p.graph.node(id).op === 'decompose')).toBe(false);
  });

  it('an SVD of something that changes during training is refused, with its location', () => {
    const src = `adapter Moving(r: Dim = 2) on Linear[In, Out] {\n  param A: [In, Out] = zeros\n  delta(x: [N, In]) -> [N, Out] = x @ svd_u(A) @ transpose(svd_v(A))\n}\n`;
    const checked = checkSource(src, 'moving.lily');
    let err: LilyError | undefined;
    try {
      compile(checked, 'Moving', { settings: { N: 2, In: 3, Out: 3 } });
    } catch (e) {
      err = e as LilyError;
    }
    expect(err?.diagnostics[0].code).toBe('E-grad');
    expect(err?.diagnostics[0].span?.line).toBe(3);
  });
});
