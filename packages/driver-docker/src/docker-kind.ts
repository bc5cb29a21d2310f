/**
 * The `docker` workload kind as a plug-in of the agent: it runs the profile's `Container` nodes
 * whose `engine` is `docker`, with the spec every OCI kind shares (`mapContainer`), on the
 * daemon behind a Unix socket.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { request } from 'node:http';
import { delimiter, join } from 'node:path';
import type { KindAvailability, WorkloadKind } from '@khutulun/driver';
import {
  CONTAINER_TYPE,
  engineOf,
  mapContainer,
  withContainerCommand,
} from '@khutulun/driver-container';
import { DockerDriver, defaultDockerSocket } from './docker-driver.js';

/** Options of the docker kind. */
export interface DockerKindOptions {
  /** The daemon's Unix socket (default `DOCKER_HOST` if `unix://`, else `/var/run/docker.sock`). */
  socketPath?: string;
  /** How long the probe waits for `/_ping` (default 3 s). */
  probeTimeoutMs?: number;
}

function onPath(program: string): boolean {
  for (const directory of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    try {
      accessSync(join(directory, program), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** `GET /_ping` on the socket: undefined when it answers OK, else why not. */
function ping(socketPath: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? undefined : `/_ping answered HTTP ${res.statusCode}`);
    });
    req.on('error', (error) => resolve(error.message));
    req.on('timeout', () => {
      req.destroy();
      resolve(`no answer to /_ping within ${timeoutMs} ms`);
    });
    req.end();
  });
}

/** Whether dockerd answers on `socketPath`, or why not (not installed, not running, not answering). */
export async function probeDocker(
  socketPath: string,
  timeoutMs = 3_000,
): Promise<KindAvailability> {
  if (!existsSync(socketPath)) {
    const installed = onPath('dockerd') || onPath('docker');
    return {
      available: false,
      reason: installed
        ? `dockerd is not running (no socket at ${socketPath})`
        : `Docker is not installed (no dockerd on PATH, no socket at ${socketPath})`,
    };
  }
  const failure = await ping(socketPath, timeoutMs);
  return failure
    ? { available: false, reason: `dockerd does not answer at ${socketPath}: ${failure}` }
    : { available: true };
}

/** The docker kind with these options. */
export function createDockerKind(options: DockerKindOptions = {}): WorkloadKind {
  const socket = () => options.socketPath ?? defaultDockerSocket();
  return {
    kind: 'docker',
    nodeTypes: [CONTAINER_TYPE],
    ownFileSystem: true,
    sharedEngine: true,
    claims: (node) => engineOf(node) === 'docker',
    map(node) {
      const mapping = mapContainer(node);
      const p = mapping.properties;
      if (p.type === 'pod' || p.pod !== undefined)
        mapping.problems.push({
          path: p.type === 'pod' ? [] : ['pod'],
          message: 'Docker has no pods: give the pod and its containers `engine: podman`',
        });
      return mapping;
    },
    withCommand: withContainerCommand,
    async probe() {
      const host = process.env.DOCKER_HOST;
      if (!options.socketPath && host && !host.startsWith('unix://'))
        return {
          available: false,
          reason: `DOCKER_HOST=${host} is not a unix:// socket: the docker kind drives this host's own daemon`,
        };
      return probeDocker(socket(), options.probeTimeoutMs);
    },
    async open(context) {
      return new DockerDriver({
        stateDirectory: context.stateDirectory,
        host: context.host,
        socketPath: socket(),
        log: context.log,
      });
    },
  };
}

/** The docker kind on the default socket (`DOCKER_HOST` or `/var/run/docker.sock`). */
export const dockerKind: WorkloadKind = createDockerKind();
