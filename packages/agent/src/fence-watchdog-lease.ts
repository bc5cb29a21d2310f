/**
 * The agent's side of the fence watchdog (`fence-watchdog.ts`): connects to the watchdog of
 * its state directory, starting one when none answers, and holds the lease by writing one
 * `renew` line per renewal of its membership.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FenceWatchdogConfig } from './fence-watchdog.js';
import { fenceWatchdogPaths } from './fence-watchdog-record.js';

// The built watchdog, whether this file runs from src/ (vitest) or lib/.
const WATCHDOG_MAIN = fileURLToPath(new URL('../lib/fence-watchdog-main.js', import.meta.url));

/** How long the agent waits for a watchdog it started to serve. */
const START_TIMEOUT_MS = 20_000;
/** How long a hello waits for its answer (longer than a fence in progress takes). */
const HELLO_TIMEOUT_MS = 60_000;
/** After losing the watchdog's connection unexpectedly, the agent connects again after this. */
const RECONNECT_DELAY_MS = 1_000;

/** The agent's lease on its host's fence watchdog. */
export interface FenceLease {
  /** The watchdog's PID (of the current connection). */
  readonly pid: number;
  /** How many fences the watchdog had made when the agent connected (0: none). */
  readonly fencesAtConnect: number;
  /** Renews the lease: one short write on the socket; nothing if not connected. */
  renew(): void;
  /** Leaves cleanly: the watchdog exits without fencing (the workloads keep running). */
  close(): Promise<void>;
}

/** How to hold a lease (the watchdog's configuration) and where to log. */
export interface FenceLeaseOptions extends FenceWatchdogConfig {
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}

/**
 * Connects to the watchdog of `options.stateDir`, starting one (detached: its own session and
 * process group, so that it outlives this process) when none answers. Resolves once the
 * watchdog has answered the hello, which it does only after any fence in progress finished.
 * Should the connection break later (the watchdog died), it connects again, starting one.
 */
export async function holdFenceLease(options: FenceLeaseOptions): Promise<FenceLease> {
  const { log, ...config } = options;
  const paths = fenceWatchdogPaths(config.stateDir);
  let socket: Socket | undefined;
  let pid = 0;
  let fences = 0;
  let closed = false;
  let reconnect: NodeJS.Timeout | undefined;

  const open = async (): Promise<void> => {
    let connected = await connect(paths.socket);
    if (!connected) {
      await startWatchdog(config, paths);
      connected = await connect(paths.socket);
      if (!connected) throw new Error(`the fence watchdog does not answer on ${paths.socket}`);
    }
    const answer = await hello(connected, config);
    pid = answer.pid;
    fences = answer.fences;
    socket = connected;
    connected.on('close', () => {
      if (socket === connected) socket = undefined;
      if (closed) return;
      log('warn', 'cluster: lost the fence watchdog; connecting again');
      reconnect = setTimeout(again, RECONNECT_DELAY_MS);
      reconnect.unref();
    });
  };
  const again = () => {
    if (closed) return;
    open().then(
      () => log('info', `cluster: fence watchdog PID ${pid} holds the lease again`),
      (error: unknown) => {
        log('error', `cluster: cannot reach the fence watchdog: ${(error as Error).message}`);
        if (!closed) reconnect = setTimeout(again, RECONNECT_DELAY_MS * 5);
        reconnect?.unref();
      },
    );
  };

  // A watchdog may be exiting just as we connect (it fenced and saw no agent): try again,
  // which starts a new one.
  for (let attempt = 1; ; attempt++) {
    try {
      await open();
      break;
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
  const fencesAtConnect = fences;
  return {
    get pid() {
      return pid;
    },
    fencesAtConnect,
    renew() {
      if (socket?.writable) socket.write('renew\n');
    },
    async close() {
      closed = true;
      clearTimeout(reconnect);
      const current = socket;
      if (!current || current.destroyed) return;
      const gone = new Promise<void>((resolve) => current.once('close', () => resolve()));
      current.end('bye\n');
      // The watchdog closes its end as it exits; bounded in case it does not.
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
      current.destroy();
    },
  };
}

/** A connection to the socket, or undefined when nothing answers there. */
function connect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      socket.on('error', () => {
        // 'close' follows.
      });
      resolve(socket);
    });
    socket.once('error', () => resolve(undefined));
  });
}

/** Sends the hello and waits for `ready {...}`. */
function hello(
  socket: Socket,
  config: FenceWatchdogConfig,
): Promise<{ pid: number; fences: number }> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(
      () => fail(new Error('the fence watchdog did not answer')),
      HELLO_TIMEOUT_MS,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.destroy();
      reject(error);
    };
    const onClose = () => fail(new Error('the fence watchdog closed the connection'));
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const end = buffer.indexOf('\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      const line = buffer.slice(0, end);
      try {
        if (!line.startsWith('ready ')) throw new Error(`unexpected answer ${line}`);
        resolve(JSON.parse(line.slice(6)));
      } catch (error) {
        fail(error as Error);
      }
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(`hello ${JSON.stringify(config)}\n`);
  });
}

/**
 * Starts the watchdog: `node fence-watchdog-main.js CONFIG`, detached (a new session), its
 * stderr appended to its log, and waits for its `ready` line. The cluster's credentials
 * (`KHUTULUN_BUS`) are not passed on: it needs none.
 */
async function startWatchdog(
  config: FenceWatchdogConfig,
  paths: ReturnType<typeof fenceWatchdogPaths>,
): Promise<void> {
  mkdirSync(paths.directory, { recursive: true, mode: 0o700 });
  const { KHUTULUN_BUS: _bus, ...env } = process.env;
  const logFd = openSync(paths.log, 'a', 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(process.execPath, [WATCHDOG_MAIN, JSON.stringify(config)], {
      detached: true,
      stdio: ['ignore', 'pipe', logFd],
      env,
      cwd: '/',
    });
  } finally {
    closeSync(logFd);
  }
  const stdout = child.stdout!;
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`the fence watchdog did not start (see ${paths.log})`)),
        START_TIMEOUT_MS,
      );
      stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        if (!out.includes('\n'))
          reject(new Error(`the fence watchdog exited (${code}) at start (see ${paths.log})`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } finally {
    stdout.destroy();
    child.unref();
  }
}
