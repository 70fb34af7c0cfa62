// npm run build:grammar: regenerate compiler/syntax/lily-grammar.ts from compiler/syntax/lily.ohm.
import { readFileSync, writeFileSync } from 'node:fs';
import { grammarModuleText } from '../compiler/syntax/grammar-recipe.ts';

const dir = new URL('../compiler/syntax/', import.meta.url);
const text = grammarModuleText(readFileSync(new URL('lily.ohm', dir), 'utf8'));
const target = new URL('lily-grammar.ts', dir);
let old = '';
try {
  old = readFileSync(target, 'utf8');
} catch {
  /* first build */
}
if (old !== text) writeFileSync(target, text);
