import { describe, expect, it } from 'vitest';
import { checkProgram } from './check.ts';
import { parse } from '../syntax/to-ast.ts';
import { dimDiv, dimEq, dimMul, dimSym, evalDim, showDim, dimAdd } from './dims.ts';

const diags = (src: string) => checkProgram(parse(src, 't.lily')).diagnostics;

describe('symbolic dimensions', () => {
  it('simplify products, quotients and sums', () => {
    const In = dimSym('In');
    const f = dimSym('f');
    expect(dimEq(dimMul(dimDiv(In, f)!, f), In)).toBe(true);
    expect(dimEq(dimAdd(dimSym('r'), dimSym('r')), dimMul(new Map([['', 2]]), dimSym('r')))).toBe(true);
    expect(dimEq(In, f)).toBe(false);
    expect(showDim(dimDiv(In, f)!)).toBe('In/f');
    expect(evalDim(dimDiv(In, f)!, { In: 12, f: 4 })).toBe(3);
    expect(() => evalDim(dimDiv(In, f)!, { In: 10, f: 4 })).toThrow(/not a whole number/);
  });
});

describe('checker', () => {
  it('accepts a well-typed adapter', () => {
    expect(diags('adapter L(r: Dim = 4) on Linear[In, Out] {\n param A: [In, r] = zeros\n param B: [r, Out] = zeros\n delta(x: [N, In]) -> [N, Out] = x @ A @ B\n}')).toEqual([]);
  });

  it('rejects a matmul with mismatched inner dimensions, at the operator', () => {
    const [d] = diags('adapter L(r: Dim = 4) on Linear[In, Out] {\n param A: [In, r] = zeros\n param B: [Out, r] = zeros\n delta(x: [N, In]) -> [N, Out] = x @ A @ B\n}');
    expect(d.code).toBe('E-shape');
    expect(d.message).toContain('inner dimensions');
    expect([d.span?.line, d.span?.col]).toEqual([4, 40]);
    expect(d.found).toBe('[N, r] @ [Out, r]');
  });

  it('reports several errors in one file', () => {
    const ds = diags('fn f(x: [N, D]) -> [N, D] = x + y\nfn g(x: [N, D]) -> [D, N] = x\nfn h(x: [N]) -> [N] = softmax[Q](x)');
    expect(ds.map((d) => d.code)).toEqual(['E-name', 'E-shape', 'E-name']);
  });

  it('broadcasts by name when trailing alignment fails, and refuses ambiguity', () => {
    expect(diags('fn f(p: [N], y: [N, O]) -> [N, O] = p * y')).toEqual([]);
    expect(diags('fn f(p: [N], y: [N, O, N]) -> [N, O, N] = p * y')).toEqual([]); // trailing wins
    const [d] = diags('fn f(p: [O], y: [N, O, K]) -> [N, O, K] = p * y');
    expect(d).toBeUndefined(); // [O] embeds uniquely
    expect(diags('fn f(p: [K, N], y: [N, K]) -> [N, K] = p * y')[0].code).toBe('E-shape');
    // [D] embeds in [D, D, N] two ways: which axis it stretches along is ambiguous.
    expect(diags('fn f(p: [D], y: [D, D, N]) -> [D, D, N] = p * y')[0]?.code).toBe('E-shape');
    expect(diags('fn f(p: [D], z: [D, D, N]) -> [D, D, N] = broadcast[D, D, N](p) + z')[0]?.code).toBe('E-shape');
  });

  it('compares dimensions with their coefficients: D is not 2*D', () => {
    expect(diags('fn f(x: [N, D], w: [2 * D, K]) -> [N, K] = x @ w')[0]?.message).toContain('D vs 2*D');
    expect(diags('fn f(x: [N, D], b: [2 * D]) -> [N, D] = x + b')[0]?.code).toBe('E-shape');
    expect(diags('fn f(x: [N, 2 * D], w: [2 * D, K]) -> [N, K] = x @ w')).toEqual([]);
  });

  it('types the expert comprehension and infers the index range', () => {
    expect(diags('fn f(p: [E], h: [N, R], B: [E, R, O]) -> [N, O] = sum[e](p[e] * (h @ B[e]))')).toEqual([]);
    const [d] = diags('fn f(p: [F], h: [N, R], B: [E, R, O]) -> [N, O] = sum[e](p[e] * (h @ B[e]))');
    expect(d.message).toContain("'e' ranges over F");
    expect(diags('fn f(h: [N, R]) -> [N, R] = sum[e](h)')[0].message).toContain('cannot tell what');
  });

  it('requires conditions on hyper-parameters and names ambiguous axes', () => {
    expect(diags('fn f(x: [N]) -> [N] = if x then x else x')[0].code).toBe('E-hyper');
    expect(diags('fn f(x: [N, N]) -> [N] = sum[N](x)')[0].code).toBe('E-axis');
    expect(diags('fn f(x: [N, N]) -> [N] = sum[-1](x)')).toEqual([]);
  });

  it('unifies generic function dimensions at each call', () => {
    expect(diags('fn sq(a: [M, K], b: [K, P]) -> [M, P] = a @ b\nfn g(x: [N, D], w: [D, H]) -> [N, H] = sq(x, w)')).toEqual([]);
    expect(diags('fn sq(a: [M, K], b: [K, P]) -> [M, P] = a @ b\nfn g(x: [N, D], w: [H, D]) -> [N, H] = sq(x, w)')[0].message).toContain("argument 'b'");
  });
});
