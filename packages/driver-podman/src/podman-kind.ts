/**
 * The `podman` workload kind, as a plug-in of the agent: it runs the profile's `Container`
 * nodes whose `engine` is `podman` (or absent) and every `Pod` node, maps them with the
 * shared container mapping, and opens a `PodmanDriver` on libpod's socket.
 *
 * The socket: the one configured (default: the system service's, `/run/podman/podman.sock`
 * as root, `$XDG_RUNTIME_DIR/podman/podman.sock` otherwise), else the one a previous agent
 * started under the state directory (`<state>/podman/podman.sock`). When none answers, `open`
 * starts `podman system service --time=0` on that last socket, detached, and starts it again
 * should it die while the driver is open. It is kept when the driver closes and re-adopted by
 * the next agent (stopping it would gain nothing, as the
 * containers run under conmon either way, and would cost the next start a second or so).
 * Its PID is in `<state>/podman/service.pid` for a sysadmin who wants it gone.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DriverContext, KindAvailability, WorkloadKind, WorkloadNode } from '@khutulun/driver';
import {
  CONTAINER_TYPE,
  engineOf,
  mapContainer,
  POD_TYPE,
  withContainerCommand,
} from '@khutulun/driver-container';
import { PodmanDriver } from './podman-driver.js';
import { pingSocket, startPodmanService } from './podman-service.js';

/** Options of the podman kind. */
export interface PodmanKindOptions {
  /** The libpod socket to use (default: the system service's, then the state directory's). */
  socketPath?: string;
  /** The podman program, for starting a service (default `podman` on PATH). */
  podman?: string;
  /** Start `podman system service` when no socket answers (default true). */
  startService?: boolean;
  /** A store of its own for a service the kind starts (tests); default podman's. */
  serviceStore?: { root?: string; runRoot?: string; tmpDir?: string };
}

/** How long after a started service died it is started again. */
const SERVICE_RESTART_DELAY_MS = 500;

/** The longest Unix socket path (`sun_path` is 108 bytes with its terminating zero). */
const MAX_SOCKET_PATH = 107;

/** The system service's socket for this user (`CONTAINER_HOST` when it is `unix://`). */
export function defaultSocketPath(): string {
  // Podman's own convention for reaching a service, as DOCKER_HOST is Docker's.
  const host = process.env.CONTAINER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  if (process.getuid?.() === 0) return '/run/podman/podman.sock';
  const runtime = process.env.XDG_RUNTIME_DIR || `/run/user/${process.getuid?.() ?? 0}`;
  return join(runtime, 'podman', 'podman.sock');
}

/** The socket a service started by Khutulun listens on. */
export function ownSocketPath(context: DriverContext): string {
  return join(context.stateDirectory, 'podman', 'podman.sock');
}

function podmanVersion(podman: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(podman, ['--version'], { timeout: 10_000 }, (error, stdout) =>
      resolve(error ? undefined : stdout.trim()),
    );
  });
}

/** The podman kind with these options. */
export function createPodmanKind(options: PodmanKindOptions = {}): WorkloadKind {
  const podman = options.podman ?? 'podman';
  const candidates = (context: DriverContext) => [
    options.socketPath ?? defaultSocketPath(),
    ownSocketPath(context),
  ];
  const answering = async (context: DriverContext) => {
    for (const socket of candidates(context)) if (await pingSocket(socket)) return socket;
    return undefined;
  };
  return {
    kind: 'podman',
    nodeTypes: [CONTAINER_TYPE, POD_TYPE],
    claims: (node: WorkloadNode) => node.types.includes(POD_TYPE) || engineOf(node) === 'podman',
    ownFileSystem: true,
    sharedEngine: true,
    map: mapContainer,
    withCommand: withContainerCommand,
    async probe(context): Promise<KindAvailability> {
      if (await answering(context)) return { available: true };
      if (options.startService === false)
        return {
          available: false,
          reason: `no libpod socket answers (${candidates(context).join(', ')})`,
        };
      const version = await podmanVersion(podman);
      if (!version)
        return { available: false, reason: `podman is not installed (no ${podman} on PATH)` };
      const socket = ownSocketPath(context);
      if (socket.length > MAX_SOCKET_PATH)
        return {
          available: false,
          reason: `the socket path ${socket} is too long for a Unix socket`,
        };
      return { available: true };
    },
    async open(context) {
      const own = ownSocketPath(context);
      let socket = await answering(context);
      let closed = false;
      const directory = join(context.stateDirectory, 'podman');
      // A service on our own socket is ours to keep alive while the driver is open, whether
      // this agent started it or adopted one a previous agent started: if it dies, it is
      // started again (the driver reconnects and resyncs); kept running when the driver
      // closes. A system service (socket-activated) is left to whoever runs it.
      let starting: Promise<void> | undefined;
      const start = async (): Promise<void> => {
        const service = await startPodmanService({
          ...options.serviceStore,
          socketPath: own,
          podman,
          detached: true,
          logFile: join(directory, 'service.log'),
        });
        writeFileSync(join(directory, 'service.pid'), `${service.pid}\n`);
        context.log('info', `podman: started podman system service (PID ${service.pid}) on ${own}`);
        void service.exited.then(() => {
          if (closed) return;
          context.log(
            'warn',
            `podman: podman system service (PID ${service.pid}) exited; starting it again`,
          );
          setTimeout(() => void restart(), SERVICE_RESTART_DELAY_MS).unref();
        });
      };
      /** Starts our service again unless it answers (once at a time). */
      const restart = (): Promise<void> => {
        starting ??= (async () => {
          try {
            if (closed || (await pingSocket(own))) return;
            await start();
          } catch (error) {
            context.log(
              'error',
              `podman: cannot start podman system service: ${(error as Error).message}`,
            );
          } finally {
            starting = undefined;
          }
        })();
        return starting;
      };
      if (!socket) {
        if (options.startService === false) throw new Error('no libpod socket answers');
        socket = own;
        mkdirSync(directory, { recursive: true });
        await start();
      }
      const supervised = socket === own && options.startService !== false;
      return new PodmanDriver({
        client: socket,
        stateDirectory: directory,
        host: context.host,
        log: context.log,
        onClose: () => {
          closed = true;
        },
        // An adopted service has no exit we can wait for: its event stream ending says it.
        ...(supervised
          ? {
              onDisconnected: () => {
                setTimeout(() => void restart(), SERVICE_RESTART_DELAY_MS).unref();
              },
            }
          : {}),
      });
    },
  };
}

/** The podman kind with its defaults. */
export const podmanKind: WorkloadKind = createPodmanKind();
