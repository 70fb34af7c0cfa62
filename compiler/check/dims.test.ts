// Symbolic dimensions, function by function, with exact results: the algebra, equality, the
// canonical text, evaluation at sizes and its errors (the mutation-tested core: dims.ts).
import { describe, expect, it } from 'vitest';
import {
  dimAdd,
  dimAsConst,
  dimAsSymbol,
  dimConst as c,
  dimDerived,
  dimDiv,
  dimEq,
  DimError,
  dimMul,
  dimSubst,
  dimSym as s,
  dimSymbols,
  evalDim,
  showDim,
  showShape,
  type Dim,
} from './dims.ts';

const terms = (d: Dim) => [...d];

describe('dimension algebra', () => {
  it('adds and subtracts term by term, dropping zero terms, keys sorted', () => {
    expect(terms(dimAdd(s('b'), s('a')))).toEqual([['a', 1], ['b', 1]]);
    expect(terms(dimAdd(s('a'), s('a')))).toEqual([['a', 2]]);
    expect(terms(dimAdd(s('a'), s('a'), -1))).toEqual([]);
    expect(terms(dimAdd(dimAdd(s('a'), c(3)), s('a'), -1))).toEqual([['', 3]]);
    expect(terms(dimAdd(c(2), c(5), -1))).toEqual([['', -3]]);
    expect(terms(c(0))).toEqual([]);
  });

  it('keeps terms in key order whatever order they arrive in', () => {
    const names = ['e', 'd', 'c', 'b', 'a', 'f'];
    const sum = names.reduce((acc, n) => dimAdd(acc, s(n)), c(1));
    expect([...sum.keys()]).toEqual(['', 'a', 'b', 'c', 'd', 'e', 'f']);
    expect(showDim(sum)).toBe('1 + a + b + c + d + e + f');
  });

  it('multiplies monomials: exponents add, cancel to the constant, keys in symbol order', () => {
    expect(terms(dimMul(s('b'), s('a')))).toEqual([['a*b', 1]]);
    expect(terms(dimMul(s('a'), s('a')))).toEqual([['a^2', 1]]);
    expect(terms(dimMul(dimMul(s('a'), s('a')), dimDiv(c(1), s('a'))!))).toEqual([['a', 1]]);
    expect(terms(dimMul(s('a'), dimDiv(c(3), s('a'))!))).toEqual([['', 3]]);
    // (a + 1)(a − 1) = a² − 1
    expect(terms(dimMul(dimAdd(s('a'), c(1)), dimAdd(s('a'), c(1), -1)))).toEqual([['', -1], ['a^2', 1]]);
    expect(terms(dimMul(c(2), c(3)))).toEqual([['', 6]]);
  });

  it('divides by one term exactly, by a sum only when equal', () => {
    expect(terms(dimDiv(dimMul(c(6), s('a')), dimMul(c(2), s('a')))!)).toEqual([['', 3]]);
    expect(terms(dimDiv(s('In'), c(4))!)).toEqual([['In', 0.25]]);
    expect(terms(dimDiv(c(1), dimMul(s('a'), s('b')))!)).toEqual([['a^-1*b^-1', 1]]);
    const sum = dimAdd(s('a'), s('b'));
    expect(terms(dimDiv(sum, dimAdd(s('b'), s('a')))!)).toEqual([['', 1]]);
    expect(dimDiv(s('a'), sum)).toBeUndefined();
    expect(dimDiv(dimAdd(s('a'), c(1)), sum)).toBeUndefined();
  });

  it('compares by every term and coefficient (within 1e-12)', () => {
    expect(dimEq(dimMul(dimDiv(s('In'), s('f'))!, s('f')), s('In'))).toBe(true);
    expect(dimEq(s('a'), s('b'))).toBe(false);
    expect(dimEq(dimMul(c(2), s('D')), s('D'))).toBe(false); // [N, D] @ [2*D, K] must not type
    expect(dimEq(s('a'), dimAdd(s('a'), c(1)))).toBe(false);
    expect(dimEq(dimAdd(s('a'), c(1)), s('a'))).toBe(false);
    expect(dimEq(dimAdd(s('a'), c(1)), dimAdd(s('a'), s('b')))).toBe(false);
    expect(dimEq(dimMul(c(1 / 3), dimMul(c(3), s('a'))), s('a'))).toBe(true);
    expect(dimEq(dimMul(c(1 + 1e-9), s('a')), s('a'))).toBe(false);
    expect(dimEq(c(0), c(0))).toBe(true);
  });

  it('substitutes symbols by dimensions, with positive and negative exponents', () => {
    const In = s('In');
    const n = s('n');
    expect(terms(dimSubst(dimDiv(In, n)!, new Map([['In', dimMul(c(2), n)]])))).toEqual([['', 2]]);
    expect(terms(dimSubst(dimDiv(In, n)!, new Map([['n', c(4)]])))).toEqual([['In', 0.25]]);
    // a² with a = b + 1: b² + 2b + 1
    expect(terms(dimSubst(dimMul(s('a'), s('a')), new Map([['a', dimAdd(s('b'), c(1))]])))).toEqual([['', 1], ['b', 2], ['b^2', 1]]);
    expect(terms(dimSubst(dimAdd(dimMul(c(3), s('a')), c(2)), new Map()))).toEqual([['', 2], ['a', 3]]);
    expect(terms(dimSubst(c(0), new Map([['a', c(5)]])))).toEqual([]);
  });
});

describe('single symbols and constants', () => {
  it('dimAsSymbol: only a bare symbol with coefficient 1', () => {
    expect(dimAsSymbol(s('a'))).toBe('a');
    for (const d of [dimMul(c(2), s('a')), dimMul(s('a'), s('b')), dimMul(s('a'), s('a')), c(1), c(0), dimAdd(s('a'), s('b')), dimDiv(c(1), s('a'))!]) expect(dimAsSymbol(d)).toBeUndefined();
  });

  it('dimAsConst: the constant, 0 for the empty sum, undefined with a symbol', () => {
    expect(dimAsConst(c(0))).toBe(0);
    expect(dimAsConst(c(4))).toBe(4);
    expect(dimAsConst(s('a'))).toBeUndefined();
    expect(dimAsConst(dimAdd(s('a'), c(1)))).toBeUndefined();
  });
});

describe('derived dimensions', () => {
  it('max/min of constants is computed; of symbols, one opaque symbol named canonically', () => {
    expect(terms(dimDerived('max', [c(3), c(5)]))).toEqual([['', 5]]);
    expect(terms(dimDerived('min', [c(3), c(5)]))).toEqual([['', 3]]);
    // One constant argument is not enough to compute it.
    expect(terms(dimDerived('max', [c(3), s('In')]))).toEqual([['max(3, In)', 1]]);
    expect(evalDim(dimDerived('max', [c(3), s('In')]), { In: 2 })).toBe(3);
    const m = dimDerived('max', [s('Out'), s('In')]);
    expect(terms(m)).toEqual([['max(In, Out)', 1]]);
    expect(dimEq(m, dimDerived('max', [s('In'), s('Out')]))).toBe(true);
    expect(dimEq(m, dimDerived('min', [s('In'), s('Out')]))).toBe(false);
    // Separators inside a derived name are replaced, so the name stays one symbol.
    expect(terms(dimDerived('max', [dimMul(s('a'), s('b')), dimMul(s('a'), s('a'))]))).toEqual([['max(a·b, a↑2)', 1]]);
  });

  it('dimSymbols sees through derived dimensions to the sizes they need', () => {
    expect(dimSymbols(dimAdd(dimDerived('max', [s('Out'), s('In')]), s('r'))).sort()).toEqual(['In', 'Out', 'r']);
    expect(dimSymbols(dimMul(s('a'), s('b'))).sort()).toEqual(['a', 'b']);
    expect(dimSymbols(c(7))).toEqual([]);
  });

  it('evaluates a derived dimension from its arguments', () => {
    expect(evalDim(dimDerived('max', [s('In'), s('Out')]), { In: 3, Out: 5 })).toBe(5);
    expect(evalDim(dimDerived('min', [s('In'), s('Out')]), new Map([['In', 3], ['Out', 5]]))).toBe(3);
    expect(evalDim(dimAdd(dimDerived('max', [s('In'), s('Out')]), c(1)), { In: 8, Out: 2 })).toBe(9);
  });
});

describe('evalDim', () => {
  it('evaluates sums of monomials with exponents, from a record or a map', () => {
    expect(evalDim(dimMul(s('a'), s('a')), { a: 3 })).toBe(9);
    expect(evalDim(dimDiv(c(6), s('a'))!, { a: 3 })).toBe(2);
    expect(evalDim(dimAdd(dimMul(c(2), s('a')), c(-1)), new Map([['a', 4]]))).toBe(7);
    expect(evalDim(dimDiv(s('In'), c(3))!, { In: 12 })).toBe(4);
    expect(evalDim(c(5), {})).toBe(5);
  });

  it('refuses a missing size, a fraction, and a size below the minimum, by name', () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(DimError);
        expect((e as DimError).diagnostics[0].code).toBe('E-size');
        expect((e as DimError).name).toBe('DimError');
        return (e as Error).message;
      }
      throw new Error('expected a DimError');
    };
    expect(err(() => evalDim(s('zz'), {}))).toBe('dimension zz has no size (give it with --dims zz=...)');
    expect(err(() => evalDim(dimDiv(s('a'), c(4))!, { a: 6 }))).toBe('dimension a/4 is not a whole number at these sizes (1.5)');
    expect(err(() => evalDim(dimAdd(s('a'), c(-2)), { a: 2 }))).toBe('dimension -2 + a is 0 at these sizes: every size must be at least 1');
    expect(err(() => evalDim(dimAdd(s('a'), c(-3)), { a: 2 }, 0))).toBe('dimension -3 + a is -1 at these sizes: every size must be at least 0');
  });

  it('accepts the minimum itself, and rounding noise', () => {
    expect(evalDim(dimAdd(s('a'), c(-2)), { a: 2 }, 0)).toBe(0);
    expect(evalDim(dimAdd(s('a'), c(-1)), { a: 2 })).toBe(1);
    expect(evalDim(dimMul(c(1 / 3), s('a')), { a: 3 })).toBe(1);
    expect(evalDim(dimMul(c(0.1), s('a')), { a: 30 })).toBe(3); // 0.1·30 = 3.0000000000000004
  });
});

describe('showDim', () => {
  it('writes the canonical text: products, powers, fractions, signs', () => {
    const cases: [Dim, string][] = [
      [c(0), '0'],
      [c(7), '7'],
      [c(-2), '-2'],
      [s('a'), 'a'],
      [dimMul(c(2), s('r')), '2*r'],
      [dimDiv(s('In'), c(2))!, 'In/2'],
      [dimDiv(s('In'), c(3))!, 'In/3'],
      [dimMul(c(1.5), s('r')), '1.5*r'],
      [dimMul(c(0.4), s('r')), '0.4*r'],
      [dimAdd(s('a'), s('b'), -1), 'a - b'],
      [dimAdd(c(-3), s('b')), '-3 + b'],
      [dimAdd(s('In'), c(-1)), '-1 + In'],
      [dimAdd(s('a'), s('b')), 'a + b'],
      [dimMul(s('a'), s('a')), 'a^2'],
      [dimDiv(c(1), dimMul(s('a'), s('a')))!, '1/a^2'],
      [dimDiv(s('x'), dimMul(s('a'), s('b')))!, 'x/(a*b)'],
      [dimDiv(s('x'), s('a'))!, 'x/a'],
      [dimDiv(dimMul(c(2), s('x')), s('a'))!, '2*x/a'],
      [dimDiv(s('x'), dimMul(c(2), s('a')))!, 'x/(a*2)'],
      [dimMul(s('b'), s('a')), 'a*b'],
      [dimMul(c(-1), dimMul(s('a'), s('a'))), '-a^2'],
    ];
    for (const [d, text] of cases) expect(showDim(d), text).toBe(text);
  });

  it('writes a shape', () => {
    expect(showShape([s('N'), dimDiv(s('In'), s('n'))!])).toBe('[N, In/n]');
    expect(showShape([])).toBe('[]');
  });
});
