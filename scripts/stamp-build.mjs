// Marks dist/ as built from the sources as they are now (bin/lily.js compares it with them).
import { writeFileSync } from 'node:fs';
writeFileSync(new URL('../dist/.build-stamp', import.meta.url), `${new Date().toISOString()}\n`);
