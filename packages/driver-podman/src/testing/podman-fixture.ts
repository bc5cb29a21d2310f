/**
 * A `podman system service` of a test's own: a temporary store (root, run root, libpod tmp
 * directory) and socket, so tests do not disturb each other or the machine's containers.
 * Stopped by its PID; what it made is removed with it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type PodmanService, startPodmanService, storeFlags } from '../podman-service.js';

const run = promisify(execFile);

/** A test's podman: its service, its store, and its CLI. */
export interface PodmanFixture {
  socketPath: string;
  directory: string;
  /** The global flags that select this store (`--root`, `--runroot`, `--tmpdir`). */
  flags: string[];
  /** Runs `podman FLAGS args...`; resolves stdout, rejects on failure. */
  cli(args: string[]): Promise<string>;
  service(): PodmanService;
  /** Kills the service (SIGKILL, as a crash): containers keep running under conmon. */
  kill(): Promise<void>;
  /** Starts the service again on the same socket and store. */
  start(): Promise<void>;
  /** Removes every container, pod, volume and image of the store, stops the service, deletes the store. */
  dispose(): Promise<void>;
}

/** The PIDs of processes whose command line names `text` (conmon, podman cleanups). */
function processesNaming(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/**
 * Ends what the store's service left behind, by PID: conmon keeps each exec session's
 * monitor for its exit delay (300 s) and then runs `podman container cleanup`, which would
 * recreate and mount the store after it was removed. Test cleanup only (a store of its own).
 */
function endLeftovers(directory: string): void {
  for (const pid of processesNaming(directory)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}

/**
 * Removes a store's directory once its service has stopped. Each service start mounts the
 * store's `overlay` directory again (a restarted service stacks a mount), and the
 * `podman container cleanup` that conmon runs after a container ends may mount it again
 * moments later, so it is unmounted until it stays unmounted and the directory is gone
 * (a bounded wait, in test cleanup only).
 */
export async function removeStore(directory: string, root: string): Promise<void> {
  endLeftovers(directory);
  for (let attempt = 0; ; attempt++) {
    while (
      await run('umount', [join(root, 'overlay')]).then(
        () => true,
        () => false,
      )
    );
    try {
      rmSync(directory, { recursive: true, force: true });
      return;
    } catch (error) {
      if (attempt >= 25) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Starts a podman service on a fresh temporary store (under /tmp: Unix socket paths are short). */
export async function startPodmanFixture(): Promise<PodmanFixture> {
  const directory = mkdtempSync('/tmp/khutulun-podman-');
  const store = {
    root: join(directory, 'root'),
    runRoot: join(directory, 'run'),
    tmpDir: join(directory, 'tmp'),
  };
  const socketPath = join(directory, 'podman.sock');
  const flags = storeFlags(store);
  const options = { ...store, socketPath, logFile: join(directory, 'service.log') };
  let service = await startPodmanService(options);
  const cli = async (args: string[]) =>
    (await run('podman', [...flags, ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout;
  return {
    socketPath,
    directory,
    flags,
    cli,
    service: () => service,
    kill: () => service.stop('SIGKILL'),
    start: async () => {
      service = await startPodmanService(options);
    },
    dispose: async () => {
      for (const args of [
        ['pod', 'rm', '-af', '-t', '0'],
        ['rm', '-af', '-t', '0'],
        ['volume', 'rm', '-af'],
        ['rmi', '-af'],
      ])
        await cli(args).catch(() => '');
      await service.stop();
      await removeStore(directory, store.root);
    },
  };
}
