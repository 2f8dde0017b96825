import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text'],
      // The pure core is exhaustively testable; CI fails when its line coverage drops below 95 %.
      thresholds: { 'src/core/**': { lines: 95 } },
    },
  },
});
