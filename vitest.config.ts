import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// What a program spawned by a test gets unless the test says otherwise: no schedule (a test decides
// when a run starts), no metrics port, and the dump store under .state/, never the default in /var/lib.
const spawned = {
  AFSBOT_FROM_SOURCE: '1',
  AFSBOT_METRICS: '0',
  AFSBOT_NIGHTLY_SCHEDULE: 'never',
  AFSBOT_MAINTENANCE_SCHEDULE: 'never',
  AFSBOT_DUMP_DIR: resolve(import.meta.dirname, '.state/spawned/dumps'),
  AFSBOT_STAGING_DIR: resolve(import.meta.dirname, '.state/spawned/staging'),
};

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
          env: spawned,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
