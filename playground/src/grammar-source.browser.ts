// In the page, the grammar's text is bundled (vite.config.ts swaps this in for grammar-source.ts).
import text from '../../compiler/syntax/lily.ohm?raw';

export const GRAMMAR_SOURCE = text;
