import { readFileSync } from 'node:fs';
import * as ohm from 'ohm-js';
const src = readFileSync('stdlib/adapters/lily.lily','utf8');
const base = readFileSync('compiler/syntax/lily.ohm','utf8');
const variants = {
  base,
  ascii: base.replace('identStart = letter | "_"', 'identStart = "a".."z" | "A".."Z" | "_"').replace('identRest = alnum | "_"', 'identRest = "a".."z" | "A".."Z" | "0".."9" | "_"'),
};
for (const [name, text] of Object.entries(variants)) {
  const g = ohm.grammar(text);
  const ts=[];
  for (let i=0;i<3;i++){ const t=performance.now(); const m=g.match(src); ts.push((performance.now()-t).toFixed(0)); if(m.failed()) throw new Error(name); }
  console.log(name, ts.join(' '));
}
