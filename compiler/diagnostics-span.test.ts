// makeSpan's line index (binary search over line starts) agrees with the direct scan of lineCol.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lineCol, makeSpan } from './diagnostics.ts';

describe('makeSpan', () => {
  it('gives the line and column lineCol gives, for any text and offset', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', ' ', '\n', 'é', '\t'), { maxLength: 60 }).map((cs) => cs.join('')), fc.nat(), fc.nat(), (source, i, j) => {
        const other = `${source}x`; // a second text in between: the index must follow the source
        makeSpan('g', other, 0, 0);
        const start = source.length ? i % (source.length + 1) : 0;
        const s = makeSpan('f', source, start, start + (j % 3));
        expect({ line: s.line, col: s.col }).toEqual(lineCol(source, start));
      }),
      { seed: 11, numRuns: 300 },
    );
  });
});
