// Stands in for runtime/backends/gpujs-modes-node.ts in the page (vite.config.ts): Dawn and
// headless-gl are Node's; a browser has WebGPU and WebGL itself, so nothing here is ever called.
const nodeOnly = (): never => {
  throw new Error('internal: a Node-only GPU helper was called in the browser');
};

export const openWebGPU = nodeOnly;
export const headlessGlMissing = nodeOnly;
