/**
 * The fence watchdog's process (`node fence-watchdog-main.js CONFIG`), started by the agent
 * (`fence-watchdog-lease.ts`); see `fence-watchdog.ts`. The watchdog's composition root: the
 * same workload kinds as the agent's (`WORKLOAD_KINDS` in `agent-runtime.ts`; a test checks
 * they agree), each loaded only if the agent offers it, so that an idle watchdog holds no
 * driver library it does not need. Drivers are opened only when it fences.
 *
 * Prints `ready` on stdout once it serves (or once it found another watchdog serving), and
 * logs to stderr (the agent points it at `<state>/cluster/fence-watchdog.log`).
 */
import { readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkloadKind } from '@khutulun/driver';
import {
  FenceWatchdog,
  type FenceWatchdogConfig,
  type KindCleanup,
  type KindLoader,
} from './fence-watchdog.js';

/** Every kind the watchdog can load, by name: the agent's `WORKLOAD_KINDS`. */
export const WATCHDOG_KINDS: Record<string, () => Promise<WorkloadKind>> = {
  process: async () => (await import('@khutulun/driver-process')).processKind,
  podman: async () => (await import('@khutulun/driver-podman')).podmanKind,
  docker: async () => (await import('@khutulun/driver-docker')).dockerKind,
};

/**
 * The podman kind starts `podman system service` (detached, kept for the next agent) when no
 * libpod socket answers. The agent's own service normally outlives it and answers; one that
 * the watchdog had to start is stopped again once it has fenced, so that it leaks none.
 */
export const podmanServiceCleanup: KindCleanup = {
  before(config) {
    const file = join(config.stateDir, 'podman', 'service.pid');
    const read = () => {
      try {
        return Number.parseInt(readFileSync(file, 'utf8'), 10) || undefined;
      } catch {
        return undefined;
      }
    };
    const previous = read();
    return async () => {
      const pid = read();
      if (pid === undefined || pid === previous) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      rmSync(file, { force: true });
    };
  },
};

function log(level: string, message: string): void {
  if (level !== 'debug')
    process.stderr.write(`${new Date().toISOString()} ${level} fence-watchdog: ${message}\n`);
}

/** Loads the kinds named; an unknown name is logged and skipped. */
export const loadWatchdogKinds: KindLoader = async (names) => {
  const kinds: WorkloadKind[] = [];
  for (const name of names) {
    const load = WATCHDOG_KINDS[name];
    if (load) kinds.push(await load());
    else log('warn', `unknown workload kind ${name}: its workloads are not fenced`);
  }
  return kinds;
};

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as FenceWatchdogConfig;
  // Only kinds offered are loaded, and before they are needed: a fence reads nothing new.
  const known = config.kinds.filter((name) => WATCHDOG_KINDS[name]);
  const loaded = await loadWatchdogKinds(known);
  const watchdog = new FenceWatchdog({
    config,
    loadKinds: async (names) =>
      names.every((name) => known.includes(name))
        ? loaded.filter((kind) => names.includes(kind.kind))
        : loadWatchdogKinds(names),
    cleanups: [podmanServiceCleanup],
    log,
    exit: (code) => process.exit(code),
  });
  const serving = await watchdog.listen();
  process.stdout.write(serving ? 'ready\n' : 'ready (another watchdog serves)\n');
  if (!serving) process.exit(0);
}

// Run as a program, not when imported (a test reads `WATCHDOG_KINDS`).
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  main().catch((error: unknown) => {
    log('error', `cannot start: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  });
}
