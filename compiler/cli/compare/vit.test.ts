// The stdlib ViT computes what the PyTorch model it was trained as computes: the shipped weights
// (examples/models/vit.safetensors, PyTorch names) through `lily run` give PyTorch's float64 logits
// for 16 Fashion-MNIST test images (examples/models/vit-golden.safetensors, written by
// examples/models/check_vit.py).
import { describe, expect, it } from 'vitest';
import { main } from '../main.ts';
import { readInputFile } from '../options.ts';

describe('stdlib/models/vit.lily = the PyTorch ViT', () => {
  it('lily run --base on the shipped weights reproduces PyTorch float64 logits', async () => {
    const out: string[] = [];
    const code = await main(['run', 'stdlib/models/vit.lily', '--model', 'ViT', '--base', 'examples/models/vit.safetensors', '--strict', '--inputs', 'x=examples/models/vit-golden.safetensors', '--json'], { out: (t) => out.push(t), err: () => {} });
    expect(code).toBe(0);
    const y = (JSON.parse(out.join('')) as { output: number[][] }).output;
    const golden = readInputFile('y', 'examples/models/vit-golden.safetensors');
    expect(golden.shape).toEqual([16, 10]);
    let worst = 0;
    y.flat().forEach((v, i) => (worst = Math.max(worst, Math.abs(v - golden.data[i]) / (1 + Math.abs(golden.data[i])))));
    expect(worst).toBeLessThan(1e-9);
  });
});
