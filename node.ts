/**
 * Lily's public API for Node: everything in `lily-lang` plus files, the fast CPU backend
 * (generated JS + WebAssembly SIMD GEMM on worker threads), the gpu.js and WebGPU backends
 * (optional peer dependencies `gpu.js` and `webgpu`, loaded only when asked for), safetensors
 * files and PEFT adapter folders on disk, and the CLI itself (`runCli`: `lily train … --save DIR`
 * writes a PEFT folder).
 *
 * @example
 * ```ts
 * import { loadFile, compileTraining, cpuBackend, saveSafetensors } from 'lily-lang/node';
 * const program = loadFile('node_modules/lily-lang/stdlib/adapters/lora.lily');
 * const dims = { N: 32, In: 64, Out: 64, r: 4 };
 * const trainer = await compileTraining(program, 'LoRA', { dims, backend: cpuBackend() });
 * for (let i = 0; i < 100; i++) await trainer.step(batch(i));
 * saveSafetensors('lora.safetensors', await trainer.namedParameters());
 * ```
 * @packageDocumentation
 */
export * from './index.ts';

export { loadFile } from './compiler/frontend.ts';
export { cpuBackend, type CpuBackendOptions } from './runtime/backends/cpu-exec.ts';
// Backends by name, gpu.js modes included ('webasm', 'gpujs-cpu', 'webgpu', …): their packages load only here.
export { resolveBackend, BACKEND_NAMES } from './runtime/backends/select.ts';
export { loadSafetensors, saveSafetensors } from './runtime/checkpoint/safetensors.ts';
// PEFT adapter folders (adapter_config.json + adapter_model.safetensors) on disk.
export { readAdapterFolder, writeAdapterFolder } from './runtime/peft/node.ts';
// A model with an adapter attached, PEFT folders loaded onto it and trained adapters saved as one.
export { loadModel, loadPeft, savePeft, type ModelOptions, type LoadedModel } from './runtime/peft/library.ts';
export { main as runCli, type Io } from './compiler/cli/main.ts';
