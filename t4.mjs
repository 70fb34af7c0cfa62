import { readFileSync } from 'node:fs';
const { parse } = await import('./dist/compiler/syntax/to-ast.js');
const { checkProgram } = await import('./dist/compiler/check/check.js');
const src = readFileSync('stdlib/adapters/lily.lily','utf8');
for (let i=0;i<4;i++){
let t=performance.now(); const ast=parse(src,'x'); const a=performance.now()-t;
t=performance.now(); checkProgram(ast); const b=performance.now()-t;
console.log('parse',a.toFixed(1),'check',b.toFixed(1));}
