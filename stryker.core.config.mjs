// The measured mutation scope (`npm run mutation:core`): symbolic dimensions, diagnostics and the
// simplification rules, against the fast tests of vitest.mutation-core.config.ts. The whole scope
// (compiler/ and runtime/checkpoint/) is `npm run mutation` (stryker.config.mjs): hours on 2 cores.
import base from './stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  vitest: { configFile: 'vitest.mutation-core.config.ts' },
  mutate: ['compiler/check/dims.ts', 'compiler/diagnostics.ts', 'compiler/rewrite/rules-simplify.ts'],
  jsonReporter: { fileName: 'reports/mutation/core.json' },
};
