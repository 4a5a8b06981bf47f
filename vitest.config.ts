import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Verilator/Yosys builds are slow the first time; the content cache makes reruns fast.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // Two cores: one fork per core; tool-heavy files serialize themselves via the cache.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
