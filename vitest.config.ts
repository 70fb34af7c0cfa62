import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['*.test.ts', 'compiler/**/*.test.ts', 'editors/**/*.test.ts', 'runtime/**/*.test.ts', 'spec/**/*.test.ts', 'stdlib/**/*.test.ts', 'bin/**/*.test.ts', 'playground/**/*.test.ts', 'fuzz/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
