/**
 * The part of the Docker Engine API the driver uses, as an interface the package owns, and
 * its implementation over dockerode (API 1.41, dockerd 20.10 and later). Calls resolve with
 * plain data; "no such object" is `undefined` (or `false`), never an exception.
 */
import type { Readable } from 'node:stream';
import Docker from 'dockerode';

/** A container as `inspect` shows it (the fields the driver reads). */
export type ContainerInfo = Docker.ContainerInspectInfo;
/** What `create` takes: the body of `POST /containers/create` plus its `name`. */
export type ContainerCreateBody = Docker.ContainerCreateOptions & { name: string };

/** A container in a listing. */
export interface ContainerSummary {
  id: string;
  labels: Record<string, string>;
}

/** An exec instance started with its streams attached. */
export interface ExecHandle {
  id: string;
  /** The hijacked connection: framed stdout/stderr (no TTY) or the raw terminal (TTY). */
  stream: NodeJS.ReadWriteStream & { destroy(): void };
}

/** An exec instance's state after it ran. */
export interface ExecState {
  running: boolean;
  exitCode: number | null;
  pid: number;
  /** The container the exec runs in (its full ID). */
  containerId: string;
}

/** The Docker Engine operations of the driver. */
export interface DockerEngine {
  /** The Unix socket it talks to. */
  readonly socketPath: string;
  ping(): Promise<void>;
  /** `GET /events` with these filters: resolves once the daemon accepted the subscription. */
  events(filters: Record<string, string[]>, signal: AbortSignal): Promise<Readable>;
  listContainers(filters: Record<string, string[]>): Promise<ContainerSummary[]>;
  inspectContainer(idOrName: string): Promise<ContainerInfo | undefined>;
  createContainer(body: ContainerCreateBody): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** `POST /containers/{id}/update`: what `docker update` changes in place (limits). */
  updateContainer(id: string, body: Record<string, unknown>): Promise<void>;
  /** `POST /containers/{id}/stop?t=`: the stop signal, then SIGKILL after `seconds`. */
  stopContainer(id: string, seconds: number): Promise<void>;
  /** Removes a container (forcibly) with its anonymous volumes; false if it was not there. */
  removeContainer(id: string): Promise<boolean>;
  /** The image's ID, or `undefined` if the store has no such image. */
  imageId(reference: string): Promise<string | undefined>;
  /** `POST /images/create?fromSrc=-`: a root file system tarball as `reference`. */
  importImage(file: string, reference: string): Promise<void>;
  /** `POST /images/load` of a docker-archive (a file or a stream): what it loaded (names or IDs). */
  loadImage(archive: string | NodeJS.ReadableStream): Promise<string[]>;
  tagImage(source: string, reference: string): Promise<void>;
  /** Every `repository:tag` in the store. */
  imageTags(): Promise<string[]>;
  /** Removes a reference (untagging; the image goes with its last reference). */
  removeImage(reference: string): Promise<boolean>;
  volumeLabels(name: string): Promise<Record<string, string> | undefined>;
  createVolume(name: string, labels: Record<string, string>): Promise<void>;
  /** Removes a volume; false if it is in use or not there. */
  removeVolume(name: string): Promise<boolean>;
  logs(
    id: string,
    options: {
      stdout: boolean;
      stderr: boolean;
      follow: boolean;
      tail?: number;
      /** Prefix each message with its RFC 3339 time and a space. */
      timestamps?: boolean;
      /** Only messages from this time on (`seconds.nanoseconds` since the epoch). */
      since?: string;
    },
  ): Promise<Readable | Buffer>;
  exec(
    id: string,
    options: { command: string[]; tty: boolean; stdin: boolean; environment: string[] },
  ): Promise<ExecHandle>;
  execState(id: string): Promise<ExecState>;
  /** The container's CPU time (seconds) and memory in use (bytes, page cache not counted). */
  usage(id: string): Promise<{ cpuSeconds: number; memoryBytes: number }>;
  execResize(id: string, columns: number, rows: number): Promise<void>;
}

/** The HTTP status of a failed Engine API call, if it got that far. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The daemon's own words for a failed call (its JSON `message`), else the error's message. */
export function engineMessage(error: unknown): string {
  const json = (error as { json?: unknown } | undefined)?.json;
  if (
    json &&
    typeof json === 'object' &&
    typeof (json as { message?: unknown }).message === 'string'
  )
    return (json as { message: string }).message.trim();
  if (typeof json === 'string' && json.trim()) return json.trim();
  return error instanceof Error ? error.message : String(error);
}

async function absent<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

/** Reads a progress stream (import, load) to its end; rejects on an `error` line. */
function followProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, output: unknown[]) => {
      if (error) return reject(error);
      const failed = output.find(
        (o): o is { error: string } => typeof (o as { error?: unknown }).error === 'string',
      );
      if (failed) reject(new Error(failed.error));
      else resolve(output);
    });
  });
}

/** A `DockerEngine` over dockerode, talking to the daemon at `socketPath`. */
export function dockerEngine(socketPath: string): DockerEngine {
  const docker = new Docker({ socketPath });
  return {
    socketPath,
    async ping() {
      await docker.ping();
    },
    async events(filters, signal) {
      return (await docker.getEvents({ filters, abortSignal: signal })) as Readable;
    },
    async listContainers(filters) {
      const list = await docker.listContainers({ all: true, filters });
      return list.map((c) => ({ id: c.Id, labels: c.Labels ?? {} }));
    },
    inspectContainer: (idOrName) => absent(docker.getContainer(idOrName).inspect()),
    async createContainer(body) {
      return (await docker.createContainer(body)).id;
    },
    async startContainer(id) {
      try {
        await docker.getContainer(id).start();
      } catch (error) {
        if (statusOf(error) !== 304) throw error; // already started
      }
    },
    async updateContainer(id, body) {
      await docker.getContainer(id).update(body);
    },
    async stopContainer(id, seconds) {
      try {
        await docker.getContainer(id).stop({ t: seconds });
      } catch (error) {
        if (statusOf(error) !== 304) throw error; // already stopped
      }
    },
    async removeContainer(id) {
      return (await absent(docker.getContainer(id).remove({ force: true, v: true }))) !== undefined;
    },
    async imageId(reference) {
      return (await absent(docker.getImage(reference).inspect()))?.Id;
    },
    async importImage(file, reference) {
      await followProgress(docker, await docker.importImage(file, { repo: reference }));
    },
    async loadImage(archive) {
      const output = await followProgress(docker, await docker.loadImage(archive, { quiet: true }));
      const loaded: string[] = [];
      for (const o of output) {
        const text = (o as { stream?: unknown }).stream;
        if (typeof text !== 'string') continue;
        const m = /^Loaded image(?: ID)?: (.+)$/m.exec(text.trim());
        if (m?.[1]) loaded.push(m[1].trim());
      }
      return loaded;
    },
    async tagImage(source, reference) {
      const colon = reference.lastIndexOf(':');
      const slash = reference.lastIndexOf('/');
      const [repo, tag] =
        colon > slash
          ? [reference.slice(0, colon), reference.slice(colon + 1)]
          : [reference, 'latest'];
      await docker.getImage(source).tag({ repo, tag });
    },
    async imageTags() {
      return (await docker.listImages()).flatMap((i) => i.RepoTags ?? []);
    },
    async removeImage(reference) {
      try {
        await docker.getImage(reference).remove({ noprune: false });
        return true;
      } catch (error) {
        const status = statusOf(error);
        if (status === 404 || status === 409) return false;
        throw error;
      }
    },
    async volumeLabels(name) {
      const info = await absent(docker.getVolume(name).inspect());
      return info ? ((info.Labels as Record<string, string> | null) ?? {}) : undefined;
    },
    async createVolume(name, labels) {
      await docker.createVolume({ Name: name, Labels: labels });
    },
    async removeVolume(name) {
      try {
        await docker.getVolume(name).remove();
        return true;
      } catch (error) {
        const status = statusOf(error);
        if (status === 404 || status === 409) return false;
        throw error;
      }
    },
    async logs(id, options) {
      const container = docker.getContainer(id);
      const base = {
        stdout: options.stdout,
        stderr: options.stderr,
        timestamps: options.timestamps ?? false,
        ...(options.tail !== undefined ? { tail: options.tail } : {}),
        ...(options.since !== undefined ? { since: options.since as unknown as number } : {}),
      };
      if (options.follow)
        return (await container.logs({ ...base, follow: true })) as unknown as Readable;
      return await container.logs({ ...base, follow: false });
    },
    async exec(id, options) {
      const exec = await docker.getContainer(id).exec({
        Cmd: options.command,
        AttachStdin: options.stdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: options.tty,
        Env: options.environment,
      });
      const stream = await exec.start({ hijack: true, stdin: options.stdin, Tty: options.tty });
      return { id: exec.id, stream: stream as ExecHandle['stream'] };
    },
    async usage(id) {
      // One reading, no second sample (`one-shot`, API 1.41): what `docker stats` starts from.
      const stats = await docker.getContainer(id).stats({ stream: false, 'one-shot': true });
      const memory = stats.memory_stats ?? {};
      const detail = (memory.stats ?? {}) as Record<string, number | undefined>;
      // As the docker CLI counts it: usage less the inactive page cache (v2), or cache (v1).
      const cache = detail.inactive_file ?? detail.total_inactive_file ?? detail.cache ?? 0;
      return {
        cpuSeconds: (stats.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1e9,
        memoryBytes: Math.max(0, (memory.usage ?? 0) - cache),
      };
    },
    async execState(id) {
      const info = await docker.getExec(id).inspect();
      return {
        running: info.Running,
        exitCode: info.ExitCode,
        pid: info.Pid,
        containerId: info.ContainerID,
      };
    },
    async execResize(id, columns, rows) {
      await docker.getExec(id).resize({ w: columns, h: rows });
    },
  };
}
