// The playground: a static site (`npm run playground` serves it, `npm run build:playground` writes
// playground/dist, which works from any file server: relative asset paths).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  resolve: {
    // Node-only code stays out of the bundle: Dawn and headless-gl (the page has WebGPU/WebGL itself).
    alias: [{ find: /^.*\/gpujs-modes-node\.ts$/, replacement: here('./src/node-only-stub.ts') }],
  },
  server: { fs: { allow: [here('..')] } },
  worker: { format: 'es' },
  build: { outDir: here('./dist'), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2000 },
});
