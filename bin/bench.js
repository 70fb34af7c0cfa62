#!/usr/bin/env node
// `npm run bench`: runs bench/index.ts through tsx's loader.
import { register } from 'tsx/esm/api';
register();
await import('../bench/index.ts');
