import { defineConfig } from 'vitest/config';

/**
 * The pure suites: no Verilator, Yosys, OpenSTA or g++ (`make test-unit` runs them with those
 * tools off PATH, so a suite that starts needing one fails there instead of passing slowly).
 * Everything else runs in the `tools` project; `make test` runs both.
 */
export const UNIT_TESTS = [
  'test/core-atomic.test.ts',
  'test/rng.test.ts',
  'test/levels.test.ts',
  'test/layering.test.ts',
  'test/liberty.test.ts',
  'test/nn.test.ts',
  'test/nn-models.test.ts',
  'test/nn-pool.test.ts',
  'test/explore-decision.test.ts',
  'test/explore-journal.test.ts',
  'test/explore-search.test.ts',
  'test/explore-units.test.ts',
  'test/explore-xai.test.ts',
  'test/sweep-spec.test.ts',
];

export default defineConfig({
  test: {
    // Verilator/Yosys builds are slow the first time; the content cache makes reruns fast.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // Two cores: one fork per core; tool-heavy files serialize themselves via the cache.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT_TESTS } },
      { extends: true, test: { name: 'tools', include: ['test/**/*.test.ts'], exclude: UNIT_TESTS } },
    ],
  },
});
