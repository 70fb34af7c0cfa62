import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openWebGPU } from './webgpu-node.ts';

const here = fileURLToPath(new URL('./webgpu-node.ts', import.meta.url));

describe('openWebGPU', () => {
  it('resolves to a GPU or an error, never throws, and caches', async () => {
    const p1 = openWebGPU();
    const p2 = openWebGPU();
    expect(p1).toBe(p2);
    const r = await p1;
    if ('error' in r) expect(r.error.length).toBeGreaterThan(0);
    else expect(r.adapterInfo.length).toBeGreaterThan(0);
  });

  // Without an adapter (no Mesa, or the probe timing out on a loaded machine) this is skipped,
  // visibly, with the reason — never passed.
  it('runs a compute shader round trip on the adapter it opened', async (ctx) => {
    const r = await openWebGPU();
    if ('error' in r) {
      ctx.skip(`WebGPU unavailable here: ${r.error}`);
      return;
    }
    expect(r.adapterInfo.length).toBeGreaterThan(0);
    console.log(`[webgpu-node.test] WebGPU adapter: ${r.adapterInfo}`);
    // the shim gpu.js reads
    expect((globalThis as unknown as { navigator: { gpu: unknown } }).navigator.gpu).toBe(r.gpu);
    // option-less requestAdapter (what gpu.js does) must find the adapter too
    const adapter = await r.gpu.requestAdapter();
    expect(adapter).not.toBeNull();
    const device = await adapter!.requestDevice();
    // a real compute round trip: double 4 floats
    const module = device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read_write> d: array<f32>;
             @compute @workgroup_size(4) fn main(@builtin(global_invocation_id) i: vec3u) { d[i.x] = d[i.x] * 2.0; }`,
    });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const buf = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buf, 0, new Float32Array([1, 2, 3, 4]));
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] }));
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(buf, 0, read, 0, 16);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    expect(Array.from(new Float32Array(read.getMappedRange().slice(0)))).toEqual([2, 4, 6, 8]);
    read.unmap();
    device.destroy();
  });

  it('returns { error } (exit code 0) when no adapter can exist', () => {
    // a child process, so this process's Dawn instance is untouched: force the
    // opengles candidate with an EGL platform that has no display
    const code = `const m = await import(${JSON.stringify(here)}); const r = await m.openWebGPU(); console.log(JSON.stringify(r));`;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env: { ...process.env, LILY_WEBGPU_BACKEND: 'opengles', EGL_PLATFORM: 'x11', DISPLAY: '', WAYLAND_DISPLAY: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(res.status).toBe(0);
    const last = res.stdout.trim().split('\n').pop()!;
    const r = JSON.parse(last) as { error?: string };
    expect(typeof r.error).toBe('string');
  });

  it('LILY_WEBGPU_BACKEND with an unknown name is an error, not a throw', () => {
    const code = `const m = await import(${JSON.stringify(here)}); console.log(JSON.stringify(await m.openWebGPU()));`;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env: { ...process.env, LILY_WEBGPU_BACKEND: 'nope' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(res.status).toBe(0);
    expect(JSON.parse(res.stdout.trim().split('\n').pop()!).error).toMatch(/LILY_WEBGPU_BACKEND=nope/);
  });
});
