import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // the unit tests first; then the integration files, several at once (a project with its own
          // maxWorkers runs as a group of its own)
          sequence: { groupOrder: 0 },
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
          // the programs the tests spawn run from the TypeScript, whatever dist/ holds (a build of
          // its own is tested in console-e2e)
          env: { AFSBOT_FROM_SOURCE: '1' },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
