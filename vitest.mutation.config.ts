// The tests StrykerJS runs against each mutant (stryker.config.mjs): fast, deterministic, no
// GPU or worker-thread backends, no multi-second end-to-end runs.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'compiler/check/*.test.ts',
      'compiler/diagnostics.test.ts',
      'compiler/syntax/*.test.ts',
      'compiler/ir/*.test.ts',
      'compiler/rewrite/*.test.ts',
      'compiler/fuse/*.test.ts',
      'compiler/interp/*.test.ts',
      'compiler/analysis/*.test.ts',
      'compiler/verify.test.ts',
      'compiler/params.test.ts',
      'compiler/attach.test.ts',
      'runtime/checkpoint/*.test.ts',
      'spec/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
