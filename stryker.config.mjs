// StrykerJS mutation testing (`npm run mutation`; not part of CI: slow on small machines).
// Scope: the compiler and the checkpoint code. Tests run through vitest with per-test coverage, so
// each mutant runs only the tests that reach it; the test set is vitest.mutation.config.ts (the
// unit, property and conformance tests — not the backend, benchmark-sized or CLI end-to-end ones).
// A narrower run: `npm run mutation -- --mutate compiler/check/dims.ts,compiler/rewrite/merge.ts`.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: [
    'compiler/**/*.ts',
    'runtime/checkpoint/**/*.ts',
    '!**/*.test.ts',
    '!compiler/cli/**', // the CLI's wiring: covered end to end (cli.test.ts), too slow per mutant
    '!compiler/codegen/gpujs*.ts', // needs gpu.js backends
  ],
  ignorePatterns: ['fuzz-out', 'reports', '.stryker-tmp'],
  concurrency: 2,
  timeoutMS: 60_000,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
