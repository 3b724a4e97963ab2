import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // '@packages/billing' resolves to its TypeScript sources (the `source` export condition), so the
  // suite tests the code as written, not the last build.
  ssr: { resolve: { conditions: ['source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each test file owns its database schema (or embedded PGlite) and emulator, so files run in parallel.
    pool: 'forks',
    // Most files spend their time waiting (on PostgreSQL, the emulator, a child process), not computing:
    // Vitest's default (one worker fewer than the cores: ONE on a 2-core machine) leaves the machine
    // idle. One more file than cores keeps it busy without crowding the timing-sensitive tests.
    maxWorkers: availableParallelism() + 1,
    // A worker runs its files one after another in one process, importing the library once instead
    // of once per file. Files already own their database, emulator and cache namespace;
    // vitest.setup.ts undoes what a file leaves in process.env.
    isolate: false,
    setupFiles: ['./vitest.setup.ts'],
    // One initialised embedded data directory for the whole run (see the file).
    globalSetup: ['./vitest.global-setup.ts'],
    reporters: ['default', './vitest.summary-reporter.ts'],
  },
});
