import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { einsum, kron, matmul, reshape, transpose } from './linalg.ts';
import { type Tensor, fromNested, scalar, tensor } from './tensor.ts';
import { FC, arange, arbShape, arbTensor, expectClose, expectTensor } from './test-util.ts';

const A = fromNested([[1, 2], [3, 4]]);
const B = fromNested([[5, 6], [7, 8]]);

/** Naive triple loop on 2-D tensors, the independent reference for the properties. */
function naiveMatmul(a: Tensor, b: Tensor): Tensor {
  const [m, k] = a.shape;
  const n = b.shape[1];
  const out = tensor([m, n]);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a.data[i * k + p] * b.data[p * n + j];
      out.data[i * n + j] = s;
    }
  return out;
}

describe('matmul', () => {
  it('2-D', () => expectTensor(matmul(A, B), [[19, 22], [43, 50]]));
  it('non-square', () => {
    expectTensor(matmul(fromNested([[1, 2, 3]]), fromNested([[1], [0], [-1]])), [[-2]]);
    expectTensor(matmul(fromNested([[1], [2]]), fromNested([[3, 4]])), [[3, 4], [6, 8]]);
  });
  it('1-D promotion', () => {
    expectTensor(matmul(fromNested([1, 2]), B), [19, 22]);
    expectTensor(matmul(A, fromNested([5, 6])), [17, 39]);
    const dot = matmul(fromNested([1, 2]), fromNested([3, 4]));
    expect(dot.shape).toEqual([]);
    expect(dot.data[0]).toBe(11);
  });
  it('batched with broadcasting', () => {
    const batch = fromNested([[[1, 0], [0, 1]], [[0, 1], [1, 0]]]); // [I, swap]
    expectTensor(matmul(batch, A), [[[1, 2], [3, 4]], [[3, 4], [1, 2]]]);
    expectTensor(matmul(A, batch), [[[1, 2], [3, 4]], [[2, 1], [4, 3]]]);
    // 1-D against a batch: [2] @ [2, 2, 2] -> [2, 2]
    expectTensor(matmul(fromNested([1, 1]), batch), [[1, 1], [1, 1]]);
    expect(matmul(arange([2, 1, 3, 4]), arange([5, 4, 2])).shape).toEqual([2, 5, 3, 2]);
  });
  it('rejects misaligned and scalar operands', () => {
    expect(() => matmul(arange([2, 3]), arange([2, 3]))).toThrow(/align/);
    expect(() => matmul(scalar(1), A)).toThrow(/scalar/);
    expect(() => matmul(arange([2, 2, 2]), arange([3, 2, 2]))).toThrow(/broadcast/);
  });
  it('agrees with a naive loop per batch entry, bit for bit: each sum from 0 in increasing k (property)', () => {
    const arb = fc
      .tuple(arbShape(2, 3), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 11 }))
      .chain(([[b1, b2], m, k, n]) => fc.tuple(arbTensor([b1, 1, m, k]), arbTensor([b2, k, n])));
    fc.assert(
      fc.property(arb, ([a, b]) => {
        const [b1, , m, k] = a.shape;
        const [b2, , n] = b.shape;
        const c = matmul(a, b);
        expect(c.shape).toEqual([b1, b2, m, n]);
        for (let i = 0; i < b1; i++)
          for (let j = 0; j < b2; j++) {
            const ai = tensor([m, k], a.data.subarray(i * m * k, (i + 1) * m * k));
            const bj = tensor([k, n], b.data.subarray(j * k * n, (j + 1) * k * n));
            const cij = tensor([m, n], c.data.subarray((i * b2 + j) * m * n, (i * b2 + j + 1) * m * n));
            expect(Array.from(cij.data)).toEqual(Array.from(naiveMatmul(ai, bj).data));
          }
      }),
      FC,
    );
  });
});

describe('transpose / reshape', () => {
  it('default swaps the last two axes', () => {
    expectTensor(transpose(fromNested([[1, 2, 3], [4, 5, 6]])), [[1, 4], [2, 5], [3, 6]]);
    expectTensor(transpose(arange([2, 2, 3])), [[[0, 3], [1, 4], [2, 5]], [[6, 9], [7, 10], [8, 11]]]);
    expectTensor(transpose(fromNested([1, 2])), [1, 2]);
  });
  it('explicit permutation, negative axes allowed', () => {
    const t = transpose(arange([2, 3, 4]), [2, 0, -2]);
    expect(t.shape).toEqual([4, 2, 3]);
    // t[k, i, j] = 12 i + 4 j + k
    expect(t.data[3 * 6 + 1 * 3 + 2]).toBe(12 + 8 + 3);
    expect(() => transpose(arange([2, 3]), [0, 0])).toThrow(/permutation/);
    expect(() => transpose(arange([2, 3]), [0])).toThrow();
  });
  it('reshape checks numel and infers -1', () => {
    expectTensor(reshape(arange([2, 3]), [3, 2]), [[0, 1], [2, 3], [4, 5]]);
    expect(reshape(arange([2, 3, 4]), [4, -1]).shape).toEqual([4, 6]);
    expect(() => reshape(arange([2, 3]), [4, 2])).toThrow(/reshape/);
    expect(() => reshape(arange([2, 3]), [-1, -1])).toThrow();
    expect(() => reshape(arange([2, 3]), [4, -1])).toThrow();
  });
});

describe('kron', () => {
  it('hand values', () => {
    expectTensor(kron(A, fromNested([[0, 5], [6, 7]])), [
      [0, 5, 0, 10],
      [6, 7, 12, 14],
      [0, 15, 0, 20],
      [18, 21, 24, 28],
    ]);
    expectTensor(kron(fromNested([[1, 2]]), fromNested([[1], [2]])), [[1, 2], [2, 4]]);
    expect(kron(arange([2, 3]), arange([4, 5])).shape).toEqual([8, 15]);
    expect(() => kron(arange([2]), A)).toThrow(/2-D/);
  });
  it('mixed-product property: (A⊗B)(C⊗D) = (AC)⊗(BD)', () => {
    const arb = fc
      .tuple(arbShape(3, 3), arbShape(3, 3))
      .chain(([[m, n, p], [q, r, s]]) =>
        fc.tuple(arbTensor([m, n]), arbTensor([q, r]), arbTensor([n, p]), arbTensor([r, s])));
    fc.assert(
      fc.property(arb, ([a, b, c, d]) => {
        expectClose(matmul(kron(a, b), kron(c, d)), kron(matmul(a, c), matmul(b, d)), { rtol: 1e-10, atol: 1e-8 });
      }),
      FC,
    );
  });
});

describe('einsum', () => {
  it('matrix product and transposed output', () => {
    expectTensor(einsum('ij,jk->ik', A, B), [[19, 22], [43, 50]]);
    expectTensor(einsum('ij,jk->ki', A, B), [[19, 43], [22, 50]]);
    expectTensor(einsum('ij->ji', fromNested([[1, 2, 3]])), [[1], [2], [3]]);
  });
  it('expert-batched adapter contraction nr,ero->eno', () => {
    const x = fromNested([[1, 2], [3, 4]]); // [n=2, r=2]
    const w = fromNested([[[1], [1]], [[1], [-1]]]); // [e=2, r=2, o=1]
    expectTensor(einsum('nr,ero->eno', x, w), [[[3], [7]], [[-1], [-1]]]);
  });
  it('scalar operands', () => {
    expectTensor(einsum(',nr->nr', scalar(2), A), [[2, 4], [6, 8]]);
    expectTensor(einsum('nr,->rn', A, scalar(-1)), [[-1, -3], [-2, -4]]);
    expect(einsum(',->', scalar(3), scalar(4)).data[0]).toBe(12);
  });
  it('batched, full sums, outer products, three operands', () => {
    const batch = fromNested([[[1, 0], [0, 1]], [[0, 1], [1, 0]]]);
    expectTensor(einsum('bij,bjk->bik', batch, fromNested([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])), [
      [[1, 2], [3, 4]],
      [[7, 8], [5, 6]],
    ]);
    expectTensor(einsum('ij->', A), 10);
    expectTensor(einsum('ij->j', A), [4, 6]);
    expectTensor(einsum('ij,ij->', A, B), 70);
    expectTensor(einsum('i,j->ij', fromNested([1, 2]), fromNested([3, 4, 5])), [[3, 4, 5], [6, 8, 10]]);
    // x diag(s) y: "i,ij,j->" with x = [1, 1], s = A, y = [1, 2] -> sum_ij A_ij y_j = 1+4+3+8
    expectTensor(einsum('i,ij,j->', fromNested([1, 1]), A, fromNested([1, 2])), 16);
    // indices summed within a single operand: sum_j A_ij * sum_k 1
    expectTensor(einsum('ij,k->i', A, fromNested([1, 1, 1])), [9, 21]);
    expectTensor(einsum('ij,k->ik', A, fromNested([1, 2, 3])), [[3, 6, 9], [7, 14, 21]]);
  });
  it('implicit mode and whitespace', () => {
    expectTensor(einsum('ij,jk', A, B), [[19, 22], [43, 50]]);
    expectTensor(einsum('ba,ac', A, B), [[19, 22], [43, 50]]); // output 'bc'
    expectTensor(einsum(' ij , jk -> ik ', A, B), [[19, 22], [43, 50]]);
  });
  it('rejects bad specs', () => {
    expect(() => einsum('ii->i', A)).toThrow(/repeated/);
    expect(() => einsum('ij->k', A)).toThrow(/not in any input/);
    expect(() => einsum('ij->ii', A)).toThrow(/repeated output/);
    expect(() => einsum('ij,jk->ik', A)).toThrow(/operands/);
    expect(() => einsum('ijk->i', A)).toThrow(/subscripts/);
    expect(() => einsum('ij,jk->ik', A, arange([3, 2]))).toThrow(/sizes/);
    expect(() => einsum('i...->i', A)).toThrow(/malformed/);
  });
  it('agrees with matmul / transpose compositions (property)', () => {
    const arb = fc
      .tuple(fc.integer({ min: 1, max: 3 }), arbShape(3, 4))
      .chain(([b, [m, k, n]]) => fc.tuple(arbTensor([b, m, k]), arbTensor([b, k, n]), arbTensor([k, n])));
    fc.assert(
      fc.property(arb, ([x, y, w]) => {
        expectClose(einsum('bmk,bkn->bmn', x, y), matmul(x, y));
        expectClose(einsum('bmk,bkn->bnm', x, y), transpose(matmul(x, y)));
        expectClose(einsum('bmk,kn->nbm', x, w), transpose(matmul(x, w), [2, 0, 1]));
        expectClose(einsum('bmk,bkn->mn', x, y), einsum('bmn->mn', matmul(x, y)));
        // (x^T)^T round trip through einsum
        expectClose(einsum('bkm->bmk', einsum('bmk->bkm', x)), x, { rtol: 0, atol: 0 });
      }),
      FC,
    );
  });
});
