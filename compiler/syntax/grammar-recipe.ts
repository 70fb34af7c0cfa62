// The recipe of lily.ohm: what ohm builds from the grammar text, serialised. Loading a recipe takes
// a few ms where compiling the grammar text takes ~400 ms at every start, and it needs no file
// access (the compiler core stays browser-safe). `npm run build:grammar` writes lily-grammar.ts;
// a test fails when it no longer matches lily.ohm.
import * as ohm from 'ohm-js';

/** The file lily-grammar.ts should contain for this grammar source. */
export function grammarModuleText(grammarSource: string): string {
  // toRecipe is ohm's serialiser for generated bundles (public, though missing from its type declarations).
  const recipe = (ohm.grammar(grammarSource) as unknown as { toRecipe(): string }).toRecipe();
  return [
    '// Generated from lily.ohm by `npm run build:grammar` (compiler/syntax/grammar-recipe.ts). Do not edit.',
    `export const LILY_GRAMMAR_RECIPE = ${JSON.stringify(recipe)};`,
    '',
  ].join('\n');
}
