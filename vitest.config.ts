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
          exclude: ['test/**/*.real.test.ts', 'node_modules/**', 'dist/**'],
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
    ],
  },
});
