import { readFileSync } from 'node:fs';
import * as ohm from 'ohm-js';
const [v, file] = process.argv.slice(2);
const src = readFileSync(file,'utf8');
let text = readFileSync('compiler/syntax/lily.ohm','utf8');
if (v.includes('range')) text = text.replace('comment = "--" (~"\\n" any)*', 'comment = "--" commentChar*\n  commentChar = "\\u0000".."\\u0009" | "\\u000B".."\\uFFFF"');
if (v.includes('ascii')) text = text.replace('identStart = letter | "_"', 'identStart = "a".."z" | "A".."Z" | "_"').replace('identRest = alnum | "_"', 'identRest = "a".."z" | "A".."Z" | "0".."9" | "_"');
const g = ohm.makeRecipe(JSON.parse(ohm.grammar(text).toRecipe()));
const c=process.cpuUsage(); const m=g.match(src); const d=process.cpuUsage(c); console.log(v, ((d.user+d.system)/1000).toFixed(0), m.succeeded());
