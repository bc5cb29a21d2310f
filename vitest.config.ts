import { defineConfig } from 'vitest/config';

// Tests run against the built packages (`npm test` builds first): cross-package imports
// resolve to each package's lib/, exactly as users and child processes see them.
export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/lib/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Agents started by tests offer the kinds that start nothing of their own: the podman
    // kind would start (and leave) a `podman system service` per agent. Container tests ask
    // for it, and stop what it started.
    env: { KHUTULUN_KINDS: 'process,docker' },
  },
});
