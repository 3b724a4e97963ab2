import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each test file owns its database schema (or embedded PGlite) and emulator, so files run in parallel.
    pool: 'forks',
    reporters: ['default', './vitest.summary-reporter.ts'],
  },
});
