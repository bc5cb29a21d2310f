import { chmodSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { hostname } from 'node:os';
import { createAdaptorServer } from '@hono/node-server';
import { AgentStartError } from './agent-error.js';
import { openAgentServices } from './agent-runtime.js';
import { createApi } from './api.js';
import { claimPidFile } from './pid-lock.js';
import { ServiceController } from './service-controller.js';
import { agentPidPath, apiSocketPath, defaultStateDir } from './state-dir.js';

/** How to start an agent. Every field is optional: the defaults run the embedded single host. */
export interface AgentOptions {
  /** The state directory (default `defaultStateDir()`). */
  stateDir?: string;
  /** `postgres://...` for PostgreSQL; default: SQLite in the state directory. */
  store?: string;
  /** The ports reserved for workloads (default 20000-29999). */
  portRange?: { from: number; to: number };
  /** `HOST:PORT`: also listen on TCP, which requires `tls` and `token`. */
  listen?: string;
  tls?: { cert: string; key: string };
  token?: string;
  /** This host's name (default the OS host name). */
  host?: string;
}

/** A running agent. */
export interface Agent {
  readonly stateDir: string;
  readonly socketPath: string;
  /** The TCP address when `listen` was given. */
  readonly tcpAddress: { host: string; port: number } | undefined;
  /** Stops serving and releases the state directory; workloads keep running. */
  stop(): Promise<void>;
}

/**
 * Starts an agent on a state directory: claims `agent.pid` (refusing a second agent), opens
 * the store, re-adopts the workloads a previous agent left, and serves the API on
 * `api.sock` (mode 0600), plus TCP with TLS and a bearer token when `listen` is given.
 */
export async function startAgent(options: AgentOptions = {}): Promise<Agent> {
  const stateDir = options.stateDir ?? defaultStateDir();
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  if (options.listen && (!options.tls || !options.token)) {
    throw new AgentStartError({
      code: 'bad-options',
      status: 400,
      message: '--listen requires --tls-cert, --tls-key and --token',
    });
  }
  const release = claimPidFile(agentPidPath(stateDir));
  const servers: Server[] = [];
  const closers: Array<() => Promise<void>> = [];
  const shutdown = async () => {
    await Promise.all(servers.map((s) => closeServer(s)));
    for (const close of closers) await close();
    release();
  };
  try {
    const host = options.host ?? hostname();
    const services = await openAgentServices({
      stateDir,
      host,
      ...(options.store ? { store: options.store } : {}),
      ...(options.portRange ? { portRange: options.portRange } : {}),
    });
    closers.push(() => services.close());
    const controller = new ServiceController(services);
    closers.unshift(async () => {
      controller.close();
      await controller.idle();
    });
    await controller.recover();
    const startedAt = new Date().toISOString();
    const app = createApi({ services, controller, startedAt });
    const socketPath = apiSocketPath(stateDir);
    try {
      unlinkSync(socketPath);
    } catch {
      // No stale socket.
    }
    const unixServer = createAdaptorServer({ fetch: app.fetch }) as Server;
    servers.push(unixServer);
    await listen(unixServer, () => unixServer.listen(socketPath));
    chmodSync(socketPath, 0o600);

    let tcpAddress: Agent['tcpAddress'];
    if (options.listen && options.tls && options.token) {
      const { host: tcpHost, port } = parseListen(options.listen);
      const token = options.token;
      const secure = createApi({ services, controller, startedAt, token });
      const tcpServer = createAdaptorServer({
        fetch: secure.fetch,
        createServer: createHttpsServer,
        serverOptions: {
          cert: readFileSync(options.tls.cert),
          key: readFileSync(options.tls.key),
        },
      }) as Server;
      servers.push(tcpServer);
      await listen(tcpServer, () => tcpServer.listen(port, tcpHost));
      const address = tcpServer.address();
      tcpAddress = {
        host: tcpHost,
        port: typeof address === 'object' && address ? address.port : port,
      };
    }

    return {
      stateDir,
      socketPath,
      tcpAddress,
      stop: shutdown,
    };
  } catch (error) {
    await shutdown();
    throw error;
  }
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(listen);
  if (!match) {
    throw new AgentStartError({
      code: 'bad-options',
      status: 400,
      message: `--listen expects HOST:PORT, got ${JSON.stringify(listen)}`,
    });
  }
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(match[2]) };
}

function listen(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
    start();
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
