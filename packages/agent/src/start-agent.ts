import { chmodSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { hostname } from 'node:os';
import { createAdaptorServer } from '@hono/node-server';
import { createNodeWebSocket } from '@hono/node-ws';
import type { WorkloadKind } from '@khutulun/driver';
import type { Hono } from 'hono';
import type { UpgradeWebSocket } from 'hono/ws';
import { AgentStartError } from './agent-error.js';
import { openAgentServices } from './agent-runtime.js';
import { createApi } from './api.js';
import { claimPidFile } from './pid-lock.js';
import { ServiceController } from './service-controller.js';
import { agentPidPath, apiSocketPath, defaultStateDir } from './state-dir.js';
import { openExec } from './workload-routes.js';

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
  /** This host's address, handed to connections (default 127.0.0.1: the embedded single host). */
  address?: string;
  /** The workload kinds to offer (default every kind Khutulun has; tests pass others). */
  kinds?: readonly WorkloadKind[];
  /** Only these kinds, by name (`--kinds process,docker`). */
  kindNames?: readonly string[];
  /**
   * `nats://USER:PASSWORD@HOST:PORT`: join the cluster on this bus, with `store` (PostgreSQL)
   * holding its records. Undefined: the embedded single host.
   */
  bus?: string;
  /** The cluster's name (default `default`). */
  cluster?: string;
  /** This host's labels in the cluster. */
  labels?: Record<string, string>;
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
      ...(options.address ? { address: options.address } : {}),
      ...(options.kinds ? { kinds: options.kinds } : {}),
      ...(options.kindNames ? { kindNames: options.kindNames } : {}),
      ...(options.store ? { store: options.store } : {}),
      ...(options.portRange ? { portRange: options.portRange } : {}),
      ...(options.bus ? { bus: options.bus } : {}),
      ...(options.cluster ? { clusterName: options.cluster } : {}),
      ...(options.labels ? { labels: options.labels } : {}),
    });
    closers.push(() => services.close());
    const controller = new ServiceController(services);
    closers.unshift(async () => {
      controller.close();
      await controller.idle();
    });
    await controller.recover();
    const startedAt = new Date().toISOString();
    const unixApi = withWebSockets((upgradeWebSocket) =>
      createApi({ services, controller, startedAt, upgradeWebSocket }),
    );
    // In a cluster, the other agents relay here the requests about this host's workloads.
    if (services.cluster) closers.unshift(asyncOf(services.cluster.serveRelay(unixApi.app.fetch)));
    // ... and the operations on the workloads this host owns (their driver operations).
    if (services.cluster) {
      closers.unshift(
        asyncOf(
          services.cluster.serveOps((op, args, context) => controller.hostOp(op, args, context)),
        ),
      );
      // ... and exec sessions on them, relayed by the agent the client talks to.
      closers.unshift(asyncOf(services.cluster.serveExec(openExec(services))));
    }
    const socketPath = apiSocketPath(stateDir);
    try {
      unlinkSync(socketPath);
    } catch {
      // No stale socket.
    }
    const unixServer = createAdaptorServer({ fetch: unixApi.app.fetch }) as Server;
    unixApi.inject(unixServer);
    servers.push(unixServer);
    await listen(unixServer, () => unixServer.listen(socketPath));
    chmodSync(socketPath, 0o600);

    let tcpAddress: Agent['tcpAddress'];
    if (options.listen && options.tls && options.token) {
      const { host: tcpHost, port } = parseListen(options.listen);
      const token = options.token;
      const secure = withWebSockets((upgradeWebSocket) =>
        createApi({ services, controller, startedAt, token, upgradeWebSocket }),
      );
      const tcpServer = createAdaptorServer({
        fetch: secure.app.fetch,
        createServer: createHttpsServer,
        serverOptions: {
          cert: readFileSync(options.tls.cert),
          key: readFileSync(options.tls.key),
        },
      }) as Server;
      secure.inject(tcpServer);
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

/**
 * An API app whose server also serves WebSockets (exec). The upgrade helper routes upgrades
 * into the app, and the app's routes need the helper: the helper is given the app once built
 * (it reads `init.app` only when an upgrade arrives).
 */
function withWebSockets(build: (upgrade: UpgradeWebSocket) => Hono): {
  app: Hono;
  inject(server: Server): void;
} {
  const init = { app: undefined as unknown as Hono };
  const { upgradeWebSocket, injectWebSocket } = createNodeWebSocket(init);
  init.app = build(upgradeWebSocket);
  return { app: init.app, inject: (server) => injectWebSocket(server) };
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

function asyncOf(stop: () => void): () => Promise<void> {
  return async () => stop();
}
