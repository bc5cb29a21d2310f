/**
 * `podman system service`: libpod's REST API on a Unix socket. The kind starts one when no
 * socket answers; tests start their own on a temporary socket and store. Stopped by its PID,
 * never by name.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { request } from 'node:http';
import { dirname } from 'node:path';
import { LIBPOD } from './libpod-client.js';

/** Whether a libpod service answers `_ping` on the socket within `timeoutMs`. */
export function pingSocket(socketPath: string, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: `${LIBPOD}/_ping`, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.once('error', () => resolve(false));
    req.end();
  });
}

/** Options of a service started by Khutulun. */
export interface PodmanServiceOptions {
  socketPath: string;
  /** The podman program (default `podman` on PATH). */
  podman?: string;
  /** A store of its own (`--root`, `--runroot`): for tests, so they do not disturb each other. */
  root?: string;
  runRoot?: string;
  /** libpod's temporary state (events file, exit files), default `/run/libpod`. */
  tmpDir?: string;
  /** Where its output goes (default: nowhere). */
  logFile?: string;
  /**
   * Detached: in its own session, not a child the caller waits for, so it outlives the
   * caller (the kind keeps it for the next agent to re-adopt). Default false.
   */
  detached?: boolean;
  /** How long to wait for the socket to answer (default 20 s). */
  timeoutMs?: number;
}

/** The global flags of a store of its own. */
export function storeFlags(options: {
  root?: string;
  runRoot?: string;
  tmpDir?: string;
}): string[] {
  const flags: string[] = [];
  if (options.root) flags.push('--root', options.root);
  if (options.runRoot) flags.push('--runroot', options.runRoot);
  if (options.tmpDir) flags.push('--tmpdir', options.tmpDir);
  return flags;
}

/** A running `podman system service`. */
export interface PodmanService {
  pid: number;
  socketPath: string;
  /** Resolves when it exits (while this process lives to see it). */
  exited: Promise<void>;
  /** Stops it by its PID (SIGTERM, or SIGKILL to simulate a crash) and waits until the socket is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `podman system service --time=0 unix://SOCKET` and resolves once it answers.
 * Rejects (and stops it) if it does not answer in time.
 */
export async function startPodmanService(options: PodmanServiceOptions): Promise<PodmanService> {
  mkdirSync(dirname(options.socketPath), { recursive: true });
  const args = [
    ...storeFlags(options),
    'system',
    'service',
    '--time=0',
    `unix://${options.socketPath}`,
  ];
  const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(options.podman ?? 'podman', args, {
    stdio: ['ignore', out, out],
    detached: options.detached ?? false,
  });
  if (typeof out === 'number') closeSync(out);
  const pid = child.pid;
  let exited = false;
  const gone = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  if (options.detached) child.unref();
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (exited || pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    await gone;
  };
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  while (!(await pingSocket(options.socketPath, 500))) {
    if (exited || pid === undefined)
      throw new Error(`podman system service exited at once (podman ${args.join(' ')})`);
    if (Date.now() > deadline) {
      await stop('SIGKILL');
      throw new Error(`podman system service did not answer on ${options.socketPath}`);
    }
    // Waiting for a daemon we just started: bounded, only at start.
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: pid as number, socketPath: options.socketPath, exited: gone, stop };
}
