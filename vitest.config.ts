import { defineConfig } from 'vitest/config';

const shared = {
  exclude: ['**/node_modules/**', '**/lib/**'],
  pool: 'forks' as const,
  testTimeout: 60_000,
  hookTimeout: 120_000,
  // Agents started by tests offer the kinds that start nothing of their own: the podman
  // kind would start (and leave) a `podman system service` per agent. Container tests ask
  // for it, and stop what it started.
  env: { KHUTULUN_KINDS: 'process,docker' },
};

// Tests run against the built packages (`npm test` builds first): cross-package imports
// resolve to each package's lib/, exactly as users and child processes see them.
//
// Two groups, one after the other. Starting firewalld rewrites the machine's netfilter
// rules (RUNTIMES.md: it wipes what podman and docker added), so the port-networking tests,
// which start a real firewalld, run first and alone; everything else, containers included,
// runs after them in parallel.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'firewall',
          include: ['packages/network-ports/src/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'main',
          include: ['packages/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
          exclude: [...shared.exclude, 'packages/network-ports/**'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
