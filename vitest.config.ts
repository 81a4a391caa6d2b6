import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // The peers (AFS cell, IRC server) are shared; files run in parallel against them. They
          // mostly wait on the peers, so more files run at once than there are cores.
          fileParallelism: true,
          maxWorkers: 4,
        },
      },
    ],
  },
});
