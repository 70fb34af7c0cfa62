// linalg.ts's f64 matrix product (the reference interpreter's `@`, e.g. PiSSA's A@B of two
// 768×16 / 16×768 factors at every compile) as a WebAssembly SIMD kernel in f64x2: the lanes are
// two output columns, each summing k from 0 upward as the JavaScript does — a multiply, then an
// add, never fused — so the product is the same bits. Built at first use with the project's own
// emitter; without WebAssembly SIMD, linalg.ts keeps its JavaScript loops.
import { Code, F64, growTo, I32, lazyModule, memoryFor, V128 } from '../backends/wasm-emit.ts';

const module = lazyModule((mb) => mb.func([I32, I32, I32, I32, I32, I32, I32, I32], [], matmul, 'matmul'));
let instance: { memory: WebAssembly.Memory; matmul(a: number, b: number, out: number, M: number, K: number, N: number, j0: number, j1: number): void } | undefined;

/** columns per call of the kernel (a multiple of 4) */
const STRIP = 16;

/** bytes rounded up to 16 */
const align16 = (bytes: number) => (bytes + 15) & ~15;

/**
 * out[o + i·N + j] = Σ_k a[ao + i·K + k] · b[bo + k·N + j] (k from 0 upward) by the kernel; false
 * (nothing written) without WebAssembly SIMD or where the operands do not fit a wasm memory. The instance and its memory are kept for the process.
 */
export function matmulWasm(a: Float64Array, ao: number, b: Float64Array, bo: number, out: Float64Array, o: number, M: number, K: number, N: number): boolean {
  const built = module();
  if (!built) return false;
  const [aBytes, bBytes, outBytes] = [align16(8 * M * K), align16(8 * K * N), 8 * M * N];
  const bytes = aBytes + bBytes + outBytes;
  if (!instance) {
    const memory = memoryFor(bytes);
    const ex = new WebAssembly.Instance(built, { env: { mem: memory } }).exports as unknown as { matmul: NonNullable<typeof instance>['matmul'] };
    instance = { memory, matmul: ex.matmul };
  }
  const { memory } = instance;
  if (!growTo(memory, bytes)) return false; // beyond what a wasm memory holds (4 GiB): the JavaScript loops take it
  const buf = memory.buffer;
  new Float64Array(buf, 0, M * K).set(a.subarray(ao, ao + M * K));
  new Float64Array(buf, aBytes, K * N).set(b.subarray(bo, bo + K * N));
  // strips of columns, each a call: V8 runs new wasm code in Liftoff (its baseline compiler) and
  // swaps in TurboFan's code between calls, not inside one
  for (let j = 0; j < N; j += STRIP) instance.matmul(0, aBytes, aBytes + bBytes, M, K, N, j, Math.min(j + STRIP, N));
  out.set(new Float64Array(buf, aBytes + bBytes, M * N), o);
  return true;
}

/**
 * Columns j0..j1 in tiles of R rows × 2V columns (V f64x2 accumulators per row): 4 rows × 4 columns while they fit,
 * then single rows; then a strip of 2 columns; then a last odd column in scalar f64.
 */
function matmul(c: Code): void {
  const [a, b, out, M, K, N, j0, j1] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => c.param(i));
  const [i, j, k, pa, pb, po, rowA, rowB] = Array.from({ length: 8 }, () => c.local(I32));
  const acc = Array.from({ length: 8 }, () => c.local(V128));
  const bv = [c.local(V128), c.local(V128)];
  const xs = c.local(V128);
  const s = c.local(F64);
  c.get(K).i32(3).i32Shl().set(rowA);
  c.get(N).i32(3).i32Shl().set(rowB);

  /** for (k = 0, pa = a + i·K·8, pb = b + j·8; k < K; k++, pa += 8, pb += N·8) body() */
  const kLoop = (body: () => void) => {
    c.get(a).get(i).get(rowA).i32Mul().i32Add().set(pa);
    c.get(b).get(j).i32(3).i32Shl().i32Add().set(pb);
    c.i32(0).set(k);
    c.block().loop();
    c.get(k).get(K).i32GeS().brIf(1);
    body();
    c.get(pa).i32(8).i32Add().set(pa);
    c.get(pb).get(rowB).i32Add().set(pb);
    c.get(k).i32(1).i32Add().set(k);
    c.br(0).end().end();
  };
  /** po = out + (i·N + j)·8 */
  const outAt = () => c.get(out).get(i).get(rowB).i32Mul().i32Add().get(j).i32(3).i32Shl().i32Add().set(po);

  /** rows i.. in tiles of R while they fit, columns j..j+2V */
  const rowTiles = (R: number, V: number) => {
    c.block().loop();
    c.get(i).i32(R).i32Add().get(M).i32GtS().brIf(1);
    for (let t = 0; t < R * V; t++) c.v128Zero().set(acc[t]);
    kLoop(() => {
      for (let v = 0; v < V; v++) c.get(pb).v128Load(16 * v, 3).set(bv[v]);
      for (let r = 0; r < R; r++) {
        // a[i + r, k] is at pa + r·K·8: the row offset is a multiple of K, so added at run time
        c.get(pa);
        for (let q = 0; q < r; q++) c.get(rowA).i32Add();
        c.f64Load().f64x2Splat().set(xs);
        for (let v = 0; v < V; v++) c.get(acc[r * V + v]).get(xs).get(bv[v]).f64x2Mul().f64x2Add().set(acc[r * V + v]);
      }
    });
    outAt();
    for (let r = 0; r < R; r++) {
      for (let v = 0; v < V; v++) c.get(po).get(acc[r * V + v]).v128Store(16 * v, 3);
      c.get(po).get(rowB).i32Add().set(po);
    }
    c.get(i).i32(R).i32Add().set(i);
    c.br(0).end().end();
  };
  /** columns j..j+2V while they fit, every row */
  const columnStrips = (V: number) => {
    c.block().loop();
    c.get(j).i32(2 * V).i32Add().get(j1).i32GtS().brIf(1);
    c.i32(0).set(i);
    if (V === 2) rowTiles(4, V);
    rowTiles(1, V);
    c.get(j).i32(2 * V).i32Add().set(j);
    c.br(0).end().end();
  };

  c.get(j0).set(j);
  columnStrips(2);
  columnStrips(1);
  // a last odd column
  c.get(j).get(j1).i32LtS().if_();
  c.i32(0).set(i);
  c.block().loop();
  c.get(i).get(M).i32GeS().brIf(1);
  c.f64(0).set(s);
  kLoop(() => c.get(s).get(pa).f64Load().get(pb).f64Load().f64Mul().f64Add().set(s));
  outAt();
  c.get(po).get(s).f64Store();
  c.get(i).i32(1).i32Add().set(i);
  c.br(0).end().end();
  c.end();
}
