// The fast tests StrykerJS runs for the core scope (stryker.core.config.mjs): the checker, the
// diagnostics, the rewrite rules, the primitives and the conformance suite — seconds per mutant.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['compiler/check/*.test.ts', 'compiler/diagnostics.test.ts', 'compiler/syntax/*.test.ts', 'compiler/ir/*.test.ts', 'compiler/rewrite/rules.test.ts', 'spec/conformance.test.ts'],
    testTimeout: 60_000,
  },
});
