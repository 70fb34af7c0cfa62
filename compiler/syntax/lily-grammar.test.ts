// The prepared grammar (lily-grammar.ts) must be the recipe of lily.ohm as it is now.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { grammarModuleText } from './grammar-recipe.ts';

describe('prepared grammar', () => {
  it('lily-grammar.ts matches lily.ohm (after editing the grammar, run `npm run build:grammar`)', () => {
    const source = readFileSync(new URL('./lily.ohm', import.meta.url), 'utf8');
    const generated = readFileSync(new URL('./lily-grammar.ts', import.meta.url), 'utf8');
    expect(generated === grammarModuleText(source), 'compiler/syntax/lily-grammar.ts is stale: run `npm run build:grammar`').toBe(true);
  });
});
