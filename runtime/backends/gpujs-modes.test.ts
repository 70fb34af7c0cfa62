import { describe, expect, it } from 'vitest';
import { availableModes, createGPU, GPUJS_MODES } from './gpujs-modes.ts';
import { openWebGPU } from './webgpu-node.ts';

describe('availableModes', () => {
  it('probes every mode, with a reason for each unavailable one', async () => {
    const modes = await availableModes();
    console.log('[gpujs-modes.test]', JSON.stringify(modes));
    expect(modes.map((m) => m.mode)).toEqual([...GPUJS_MODES]);
    for (const m of modes) if (!m.available) expect(m.reason, m.mode).toBeTruthy();
    const by = Object.fromEntries(modes.map((m) => [m.mode, m]));
    // plain Node always has these two
    expect(by.cpu!.available).toBe(true);
    expect(by.webasm!.available).toBe(true);
    // webgpu is available exactly when openWebGPU found an adapter
    const w = await openWebGPU();
    expect(by.webgpu!.available).toBe(!('error' in w));
  });

  it('createGPU rejects (does not fall back) for an unavailable mode', async () => {
    const modes = await availableModes(['headlessgl']);
    if (modes[0]!.available) return; // a machine with gl + a display
    await expect(createGPU('headlessgl')).rejects.toThrow(/headlessgl unavailable/);
  });
});
