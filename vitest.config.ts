// Tests run against real PostgreSQL: TEST_DATABASE_URL when set, else an embedded server (see test/support).
import os from 'node:os';
import { defineConfig } from 'vitest/config';

// Test files at once. Vitest's default is one less than the cores: one file at a time on a 2-core
// machine, where the tests mostly wait (on the server, on the CLI processes they spawn). Each file has
// its own database and its own roles, so files run side by side. Measured on the 2-core CI machine
// (PostgreSQL 15, the whole suite): 835 s one at a time, 590 s with 4. CRMT_TEST_WORKERS overrides.
const workers = Number(process.env.CRMT_TEST_WORKERS) || Math.max(os.availableParallelism() - 1, 4);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: workers,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
