import { describe, expect, it } from 'vitest';
import { autoChoice, type Probed } from './backends.ts';

const probe = (webgpu: string | false, webgl2: string | false): Probed[] => [
  webgpu === false ? { name: 'webgpu', ok: false, reason: 'no navigator.gpu' } : { name: 'webgpu', ok: true, device: webgpu },
  webgl2 === false ? { name: 'webgl2', ok: false, reason: 'no context' } : { name: 'webgl2', ok: true, device: webgl2 },
  { name: 'webasm', ok: true },
];

describe('auto backend in the page', () => {
  it('takes WebGPU on a real GPU, else WebGL2 on a real GPU', () => {
    expect(autoChoice(probe('nvidia / ampere / NVIDIA GeForce RTX 3080', 'ANGLE (NVIDIA)'))).toBe('webgpu');
    expect(autoChoice(probe(false, 'ANGLE (Intel, Mesa Intel(R) UHD Graphics 620)'))).toBe('webgl2');
  });
  it('puts software rasterisers after WebAssembly', () => {
    expect(autoChoice(probe('google / swiftshader', 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)'))).toBe('webasm');
    expect(autoChoice(probe('google / swiftshader', 'ANGLE (NVIDIA)'))).toBe('webgl2');
  });
  it('falls back to what runs at all', () => {
    expect(autoChoice([{ name: 'webgpu', ok: true, device: 'google / swiftshader' }, { name: 'webgl2', ok: false }, { name: 'webasm', ok: false }])).toBe('webgpu');
    expect(autoChoice([{ name: 'webasm', ok: false, reason: 'no WebAssembly' }])).toBeUndefined();
  });
});
