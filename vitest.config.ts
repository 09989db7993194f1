import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Native addons must not be shared between worker threads: each test file gets a process.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    execArgv: ['--expose-gc'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
