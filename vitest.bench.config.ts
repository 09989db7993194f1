import { defineConfig } from 'vitest/config';

// Benchmarks print their own tables (ratios against baselines measured in the same run).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/bench/**/*.bench.ts'],
    testTimeout: 600_000,
    fileParallelism: false,
  },
});
