/**
 * A `podman system service` of a test's own: a temporary store (root, run root, libpod tmp
 * directory) and socket, so tests do not disturb each other or the machine's containers.
 * Stopped by its PID; what it made is removed with it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
      await run('umount', ['-R', join(store.root, 'overlay')]).catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
