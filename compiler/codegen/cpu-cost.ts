// The measured cost model of the CPU renderer (cpu.ts): seconds of a kernel as a gemm lowering
// (cpu-gemm-match.ts) and as generated loops (cpu-loops.ts).

/**
 * The cost model that picks between the orientations C = L·R and Cᵀ = R·L (which decides
 * transposes, packing and where C goes) and between gemm and loops. Seconds; constants measured on
 * the 2-vCPU dev VM (bench/cpu-kernels.ts, and gemm() called directly):
 *  - gemm ≈ 20 GFLOP/s on 4×8-padded tiles (M to a multiple of MR = 4, N of NR = 8) + ~6 µs a call;
 *  - a transposed B is packed by gemm in JS, ≈ 3.6 ns per element of K×Npad: 16×768 @ (1024×768)ᵀ
 *    took 4.7 ms vs 1.9 ms as 1024×768 @ 768×16 (+ a 16×1024 transpose: 33 µs); the 786432-long
 *    dot of an MSE loss took 20.7 ms as a 1×K×1 gemm (K·8 packed) vs 0.57 ms as loops;
 *  - N not a multiple of 8 makes gemm copy B and C row by row, ≈ 150 ns a row
 *    (1×1024 @ 1024×1: 205 µs vs 5 µs for N = 8; 256×64 @ 64×1: 64 µs vs 22 µs);
 *  - a generated copy / pack / epilogue pass ≈ 2.5 ns an element + ~1 µs (1024×768: 1.5–2.5 ms);
 *  - the loops reach ≈ 1.5 GFLOP/s when the innermost reduce variable is contiguous in both operands
 *    (matvec 1.45, dot 2.8), ≈ 1.0 when in one (1.0–1.4), ≈ 0.4 otherwise (0.3–0.6).
 */
export const GEMM_COST = {
  rate: 20e9,
  call: 6e-6,
  transBPerElement: 3.6e-9,
  rowCopy: 150e-9,
  pass: 1e-6,
  passPerElement: 2.5e-9,
  loopRate: [0.4e9, 1.0e9, 1.5e9] as const,
};

/**
 * Estimated seconds of a gemm lowering: nb gemm calls of M×K · K×N (`transB`: B packed transposed),
 * plus generated passes (pack / epilogue) over `passElements` elements in all.
 */
export function gemmCost(nb: number, M: number, N: number, K: number, transB: boolean, passElements: number, passes: number): number {
  const C = GEMM_COST;
  const Npad = Math.ceil(N / 8) * 8;
  return (
    nb * C.call +
    (2 * nb * Math.ceil(M / 4) * 4 * Npad * K) / C.rate +
    (transB ? nb * K * Npad * C.transBPerElement : N % 8 !== 0 ? nb * K * C.rowCopy : 0) +
    (N % 8 !== 0 ? nb * M * C.rowCopy : 0) +
    passElements * C.passPerElement +
    passes * C.pass
  );
}

/** Estimated seconds of `flops` as generated loops whose innermost reduce variable is contiguous in 0, 1 or 2 operands. */
export function loopsCost(flops: number, contiguous: number): number {
  return flops / GEMM_COST.loopRate[contiguous]!;
}
