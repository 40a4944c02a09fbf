import { defineConfig } from 'vitest/config';

// Tests in test/ start real processes (built by `pretest`), so they get generous timeouts;
// unit tests sit beside the code in src/.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'control-plane/**/*.test.ts', 'bench/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
