// The `lily` command as a few bundled files (dist/cli/): one file to load per command instead of
// ~100 modules resolved one by one (≈50 ms less at every start). Commands stay lazy: esbuild splits
// each dynamically imported command into its own chunk. The optional GPU packages and onnxruntime-node (loaded only by `export --to onnx --check`) stay external.
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('../dist/compiler/cli/main.js', import.meta.url).pathname],
  outdir: new URL('../dist/cli', import.meta.url).pathname,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['gpu.js', 'webgpu', 'gl', 'onnxruntime-node'],
  // Bundled CommonJS dependencies (commander) call require() for Node built-ins.
  banner: { js: "import { createRequire as __lilyRequire } from 'node:module'; const require = __lilyRequire(import.meta.url);" },
  logLevel: 'warning',
});
