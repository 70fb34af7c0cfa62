// The text of lily.ohm (the grammar, kept as its own file: it is the syntax specification). Node
// reads it beside this module; a browser bundle swaps this module for one that inlines the file
// (playground/vite.config.ts), so to-ast.ts itself has no `node:` import.
import { readFileSync } from 'node:fs';

export const GRAMMAR_SOURCE = readFileSync(new URL('./lily.ohm', import.meta.url), 'utf8');
