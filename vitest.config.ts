import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs in parallel (pure logic, stand-ins, loopback servers);
// `real` (files named *.real.test.ts, beside the unit tests of what they test) drives real Xvfb, Chromium, FFmpeg and the fake Cast device, one file at a time,
// because two cores cannot run several live encodes at once.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.real.test.ts', 'test/**/*.etcd.test.ts', 'node_modules/**', 'dist/**'],
          testTimeout: 20_000,
          setupFiles: ['test/setup.ts'],
        },
      },
      {
        test: {
          name: 'real',
          include: ['test/**/*.real.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      // `etcd` (files named *.etcd.test.ts): a real 3-member etcd cluster and coordinator instances
      // in child processes, one file at a time; they time leases and fences, so they must not share
      // two cores with the parallel unit tests. No Xvfb, Chromium or FFmpeg, so no real-pipeline lock.
      {
        test: {
          name: 'etcd',
          include: ['test/**/*.etcd.test.ts'],
          fileParallelism: false,
          testTimeout: 90_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
