// Selection masks: top-k along an axis.
import { type Tensor, numel } from './tensor.ts';

/**
 * 1 at the k largest entries of every fiber along `axis`, 0 elsewhere. Entry i is kept when fewer
 * than k entries rank before it: #{j : x_j > x_i} + #{j < i : x_j = x_i} < k (a stable descending
 * sort, ties to the lower index) — the same formula the fused kernels compute.
 */
export function topkMask(x: Tensor, axis: number, k: number): Tensor {
  const n = x.shape[axis];
  const inner = numel(x.shape.slice(axis + 1));
  const outer = numel(x.shape.slice(0, axis));
  const out = new Float64Array(x.data.length);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < inner; c++) {
      const at = (j: number) => o * n * inner + j * inner + c;
      for (let i = 0; i < n; i++) {
        const xi = x.data[at(i)];
        let rank = 0;
        for (let j = 0; j < n; j++) {
          const xj = x.data[at(j)];
          if (xj > xi || (j < i && xj === xi)) rank++;
        }
        out[at(i)] = rank < k ? 1 : 0;
      }
    }
  return { shape: [...x.shape], data: out };
}
