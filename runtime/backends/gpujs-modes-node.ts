// The Node-only half of gpujs-modes.ts: Dawn (WebGPU without a browser) and headless-gl. Imported
// lazily from there, never by a browser bundle.
import { createRequire } from 'node:module';

export { openWebGPU } from './webgpu-node.ts';

const require = createRequire(import.meta.url);

export function headlessGlMissing(): string | null {
  try {
    require.resolve('gl');
  } catch {
    return "optional dependency 'gl' is not installed (it builds from source: apt-get install -y libxi-dev libx11-dev libxext-dev libgl1-mesa-dev pkg-config xvfb, then npm rebuild gl)";
  }
  try {
    const gl = require('gl') as (w: number, h: number) => unknown;
    if (!gl(1, 1)) return "'gl' loaded but could not create a context (no display? run under xvfb-run -a)";
  } catch (e) {
    return `'gl' failed to load: ${e instanceof Error ? e.message : String(e)}`;
  }
  return null;
}
