/**
 * The Docker workload driver: OCI containers through the Docker Engine API, named
 * `khutulun-<service>-<workload>` and labelled so that `docker ps --filter label=...` finds
 * them. Exits come from Docker's `/events` (one subscription per driver), never by polling;
 * after every (re)connection the driver inspects what it tracks once and reports the exits
 * it missed.
 *
 * A workload's run is identified by its container's `State.StartedAt` (stable across every
 * inspect of one run); an exit is reported once per run, whichever of the `die` event, the
 * resync or `stop` sees it first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DriverError,
  diffSpecs,
  type ExecOptions,
  type ExecSession,
  type LogChunk,
  type LogOptions,
  type Problem,
  quoteCommand,
  type StopOptions,
  type WorkloadDescription,
  type WorkloadDiff,
  type WorkloadDriver,
  type WorkloadEvents,
  type WorkloadExit,
  type WorkloadKey,
  type WorkloadListener,
  type WorkloadRef,
  type WorkloadSpec,
  type WorkloadStatus,
  type WorkloadUsage,
} from '@khutulun/driver';
import {
  ArchiveImages,
  type ContainerProperties,
  checkContainer,
  containerName,
  containerProperties,
  describeCommands,
  imageImportCommands,
  isArchiveReference,
  isWorkloadOf,
  LABELS,
  ownerOf,
  planContainer,
  removesVolumeWith,
  volumeCreateCommand,
  volumeLabels,
} from '@khutulun/driver-container';
import { isoTime, isRunning, nanos, signalOf } from './container-state.js';
import { createBody, limitsBody } from './docker-create-body.js';
import {
  type ContainerInfo,
  type DockerEngine,
  dockerEngine,
  engineMessage,
} from './docker-engine.js';
import { type DockerEvent, DockerEventStream } from './docker-event-stream.js';
import { execSession } from './docker-exec-session.js';
import { dockerImageStore } from './docker-image-store.js';
import { readLogs } from './docker-logs.js';

/** A graph value, as attributes hold them. */
type Value = WorkloadStatus['attributes'][string];

const KIND = 'docker';
const DEFAULT_GRACE_MS = 10_000;
/** The changes `docker update` applies in place. */
const IN_PLACE = ['limits.'];

/** The daemon's socket: `DOCKER_HOST` (a `unix://` address) or `/var/run/docker.sock`. */
export function defaultDockerSocket(): string {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

/** Options of a `DockerDriver`. */
export interface DockerDriverOptions {
  /** The agent's state directory; the driver keeps its files in `<stateDirectory>/docker`. */
  stateDirectory: string;
  /** This host's name: the `io.khutulun.host` label of its containers (what `adopt` finds). */
  host: string;
  /** The daemon's Unix socket (default `defaultDockerSocket()`). */
  socketPath?: string;
  /** The Engine API client (default: dockerode on `socketPath`). */
  engine?: DockerEngine;
  log?(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
}

/** What the driver keeps per container. */
interface Workload {
  ref: WorkloadRef;
  /** `StartedAt` (ns) of the latest run seen; 0 before the first start. */
  runNs: bigint;
  /** `StartedAt` (ns) of the run whose exit was reported (or that ended unwatched). */
  reportedNs: bigint;
  stopRequested: boolean;
  pid?: number;
  /** Set while `delete` removes it: its events no longer matter. */
  deleting?: boolean;
  /** Its ports' host ports by name (from its spec, once read). */
  ports?: Record<string, number>;
}

/** What the driver writes per workload: the spec and what it resolved. */
interface WorkloadRecord {
  id: string;
  spec: WorkloadSpec;
  /** The image reference the container was created from. */
  image: string;
  /** The names of the volumes this workload's create made. */
  volumes: string[];
}

/** Runs workloads as Docker containers. */
export class DockerDriver implements WorkloadDriver {
  readonly kind = KIND;
  /** `<stateDirectory>/docker`. */
  readonly root: string;
  readonly host: string;
  readonly engine: DockerEngine;
  readonly #workloads = new Map<string, Workload>();
  readonly #listeners = new Set<WorkloadListener<'exit'>>();
  /** Followers of logs waiting for a container's next run, by container ID. */
  readonly #startWaiters = new Map<string, Set<() => void>>();
  readonly #images: ArchiveImages;
  readonly #events: DockerEventStream;
  readonly #log: NonNullable<DockerDriverOptions['log']>;
  #closed = false;

  constructor(options: DockerDriverOptions) {
    this.root = join(options.stateDirectory, KIND);
    this.host = options.host;
    this.engine = options.engine ?? dockerEngine(options.socketPath ?? defaultDockerSocket());
    this.#log = options.log ?? (() => {});
    this.#images = new ArchiveImages(dockerImageStore(this.engine));
    this.#events = new DockerEventStream({
      engine: this.engine,
      // Only what the driver acts on: no wake for execs, attaches or health checks.
      filters: {
        type: ['container'],
        event: ['start', 'die', 'destroy'],
        label: [`${LABELS.host}=${this.host}`],
      },
      onEvent: (event) => this.#onEvent(event),
      connected: () => this.#resync(),
      log: this.#log,
    });
  }

  /** The directory of a workload's files: `<state>/docker/<service>/<name>`. */
  directoryOf(key: WorkloadKey): string {
    return join(this.root, key.service, key.name);
  }

  /** How many times the event stream (re)connected (1 after the first connection). */
  get connections(): number {
    return this.#events.connections;
  }

  async check(spec: WorkloadSpec): Promise<Problem[]> {
    const problems = checkContainer(spec);
    const p = spec.properties as Partial<ContainerProperties>;
    if (p.type === 'pod')
      problems.push({ path: ['type'], message: 'Docker has no pods: use the podman engine' });
    if (p.pod !== undefined)
      problems.push({ path: ['pod'], message: 'Docker has no pods: use the podman engine' });
    const file = p.image_archive?.file;
    if (typeof file === 'string' && !existsSync(file))
      problems.push({ path: ['image_archive', 'file'], message: `${file} does not exist` });
    return problems;
  }

  async create(spec: WorkloadSpec): Promise<WorkloadStatus> {
    const problems = await this.check(spec);
    if (problems.length)
      throw new DriverError(
        `docker: workload ${label(spec.key)}: invalid spec: ${problems.map((p) => `${p.path.join('.') || '(spec)'}: ${p.message}`).join('; ')}`,
        { code: 'invalid-spec', driver: KIND, workload: spec.key, problems },
      );
    await this.#events.started;
    const name = containerName(spec.key);
    const existing = await this.#call(spec.key, 'inspecting', () =>
      this.engine.inspectContainer(name),
    );
    if (existing) {
      // The name is not unique across services (see `containerName`): the labels say whose.
      if (!isWorkloadOf(existing.Config.Labels, spec.key, this.host))
        throw new DriverError(
          `docker: workload ${label(spec.key)}: the container name ${name} is taken by ${ownerOf(existing.Config.Labels)} (${existing.Id.slice(0, 12)}); rename the service or the workload`,
          { code: 'already-exists', driver: KIND, workload: spec.key },
        );
      if (isRunning(existing))
        throw new DriverError(`docker: workload ${label(spec.key)} is already running`, {
          code: 'already-exists',
          driver: KIND,
          workload: spec.key,
        });
      // An ended workload of the same key is replaced.
      this.#forget(existing.Id);
      await this.#call(spec.key, 'removing its ended container', () =>
        this.engine.removeContainer(existing.Id),
      );
    }

    const p = containerProperties(spec);
    const made: { volumes: string[]; image?: string } = { volumes: [] };
    let id: string;
    let image: string;
    let held: string | undefined;
    try {
      if (p.image_archive) {
        const acquired = await this.#images.acquire(p.image_archive).catch((error: unknown) => {
          throw this.#failed(spec.key, `importing the image ${p.image_archive?.file}`, error);
        });
        held = acquired.reference;
        image = acquired.reference;
        if (acquired.imported) made.image = image;
      } else {
        image = p.image ?? '';
        const found = await this.#call(spec.key, 'inspecting its image', () =>
          this.engine.imageId(image),
        );
        if (!found)
          throw new DriverError(
            `docker: workload ${label(spec.key)}: the image ${image} is not in Docker's store (Khutulun never pulls: load it, or give the node an image artifact)`,
            { code: 'start-failed', driver: KIND, workload: spec.key },
          );
      }
      for (const mount of spec.mounts ?? []) {
        if (mount.type !== 'volume' || !mount.source) continue;
        const volume = mount.source;
        const labels = await this.#call(spec.key, `inspecting the volume ${volume}`, () =>
          this.engine.volumeLabels(volume),
        );
        if (labels) continue;
        await this.#call(spec.key, `creating the volume ${volume}`, () =>
          this.engine.createVolume(volume, volumeLabels(spec.key.service, this.host)),
        );
        made.volumes.push(volume);
      }
      const plan = planContainer(spec, this.host, image);
      id = await this.#call(spec.key, 'creating its container', () =>
        this.engine.createContainer(createBody(plan)),
      );
    } catch (error) {
      if (held) this.#images.release(held);
      await this.#undo(made);
      throw error;
    }
    if (held) this.#images.release(held);

    const workload = this.#track({ kind: KIND, key: spec.key, id }, 0n, -1n, false);
    try {
      await rm(this.#stopMarker(spec.key), { force: true });
      await this.#save(spec.key, { id, spec, image, volumes: made.volumes });
      await this.#call(spec.key, 'starting its container', () => this.engine.startContainer(id));
    } catch (error) {
      workload.deleting = true;
      this.#forget(id);
      await this.engine.removeContainer(id).catch(() => false);
      await this.#removeFiles(spec.key);
      await this.#undo(made);
      throw error instanceof DriverError
        ? error
        : this.#failed(spec.key, 'writing its state', error);
    }
    return this.#status(workload);
  }

  async read(ref: WorkloadRef): Promise<WorkloadStatus | undefined> {
    if (ref.kind !== KIND) return undefined;
    const info = await this.#inspect(ref);
    if (!info) return undefined;
    const workload = this.#workloads.get(ref.id) ?? this.#adoptOne(info);
    if (!workload) return undefined;
    this.#settle(workload, info);
    return this.#statusOf(workload, info);
  }

  async diff(from: WorkloadSpec, to: WorkloadSpec): Promise<WorkloadDiff> {
    const diff = diffSpecs(from, to, IN_PLACE);
    // `docker update` sets limits but cannot take one away.
    for (const path of diff.diffs) {
      const detail = diff.detailedDiff[path];
      if (detail && detail.kind === 'delete' && path.startsWith('limits.')) detail.replace = true;
    }
    diff.replaces = diff.diffs.filter((p) => diff.detailedDiff[p]?.replace);
    diff.deleteBeforeReplace = diff.replaces.length > 0;
    return diff;
  }

  async update(ref: WorkloadRef, spec: WorkloadSpec): Promise<WorkloadStatus> {
    const record = this.#load(ref.key);
    const workload = await this.#require(ref);
    if (record) {
      const diff = await this.diff(record.spec, spec);
      if (diff.replaces.length)
        throw new DriverError(
          `docker: workload ${label(ref.key)}: ${diff.replaces.join(', ')} cannot change in place`,
          { code: 'invalid-spec', driver: KIND, workload: ref.key, problems: [] },
        );
    }
    const body = limitsBody(spec.limits ?? {});
    // A new memory limit moves the swap limit with it (as `docker run --memory` sets it).
    const withSwap = body.Memory !== undefined ? { ...body, MemorySwap: body.Memory * 2 } : body;
    await this.#call(ref.key, 'updating its limits', () =>
      this.engine.updateContainer(ref.id, withSwap),
    );
    if (record) await this.#save(ref.key, { ...record, spec });
    return this.#status(workload);
  }

  async restart(ref: WorkloadRef): Promise<WorkloadStatus> {
    const workload = await this.#require(ref);
    const info = await this.#inspect(ref);
    if (info && isRunning(info)) return this.#statusOf(workload, info);
    workload.stopRequested = false;
    await rm(this.#stopMarker(ref.key), { force: true });
    await this.#call(ref.key, 'starting its container', () => this.engine.startContainer(ref.id));
    return this.#status(workload);
  }

  async stop(ref: WorkloadRef, options: StopOptions = {}): Promise<WorkloadStatus> {
    const workload = await this.#require(ref);
    workload.stopRequested = true;
    await this.#markStopped(ref.key);
    const seconds = Math.ceil((options.graceMs ?? DEFAULT_GRACE_MS) / 1000);
    await this.#call(ref.key, 'stopping its container', () =>
      this.engine.stopContainer(ref.id, seconds),
    );
    return this.#status(workload);
  }

  async delete(ref: WorkloadRef, options: StopOptions = {}): Promise<boolean> {
    if (ref.kind !== KIND) return false;
    const info = await this.#inspect(ref);
    const record = this.#load(ref.key);
    const ours = record?.id === ref.id;
    if (!info) {
      this.#forget(ref.id);
      if (ours) await this.#removeFiles(ref.key);
      return false;
    }
    if (isRunning(info)) await this.stop(ref, options);
    const workload = this.#workloads.get(ref.id);
    if (workload) workload.deleting = true;
    await this.#call(ref.key, 'removing its container', () => this.engine.removeContainer(ref.id));
    this.#forget(ref.id);
    const containerLabels = info.Config.Labels ?? {};
    for (const mount of info.Mounts ?? []) {
      if (mount.Type !== 'volume' || !mount.Name) continue;
      const labels = await this.engine.volumeLabels(mount.Name).catch(() => undefined);
      // Without force, the engine keeps a volume another container still uses.
      if (removesVolumeWith(containerLabels, labels, this.host))
        await this.engine.removeVolume(mount.Name).catch(() => false);
    }
    const image = record && ours ? record.image : info.Config.Image;
    if (isArchiveReference(image))
      await this.#images.removeIfUnused(image).catch((error: unknown) => {
        this.#log('warn', `docker: removing the image ${image}: ${String(error)}`);
        return false;
      });
    if (ours || !record) await this.#removeFiles(ref.key);
    return true;
  }

  async adopt(): Promise<WorkloadStatus[]> {
    await this.#events.started;
    const found = await this.engine.listContainers({ label: [`${LABELS.host}=${this.host}`] });
    const statuses: WorkloadStatus[] = [];
    for (const summary of found) {
      const info = await this.engine.inspectContainer(summary.id);
      if (!info) continue;
      const workload = this.#workloads.get(info.Id) ?? this.#adoptOne(info);
      if (!workload) continue;
      this.#settle(workload, info);
      statuses.push(this.#statusOf(workload, info));
    }
    return statuses;
  }

  async list(): Promise<WorkloadStatus[]> {
    const statuses: WorkloadStatus[] = [];
    for (const workload of [...this.#workloads.values()]) {
      const info = await this.engine.inspectContainer(workload.ref.id);
      if (!info) {
        this.#forget(workload.ref.id);
        continue;
      }
      statuses.push(this.#statusOf(workload, info));
    }
    return statuses;
  }

  async describe(ref: WorkloadRef): Promise<WorkloadDescription | undefined> {
    if (ref.kind !== KIND) return undefined;
    const info = await this.#inspect(ref);
    const record = this.#load(ref.key);
    if (!info && record?.id !== ref.id) return undefined;
    const commands: string[] = [];
    const details: Record<string, Value> = { container_id: ref.id, name: containerName(ref.key) };
    if (record?.id === ref.id) {
      const p = containerProperties(record.spec);
      if (p.image_archive)
        for (const words of imageImportCommands(KIND, p.image_archive, record.image))
          commands.push(quoteCommand(words));
      for (const volume of record.volumes)
        commands.push(
          quoteCommand(volumeCreateCommand(KIND, volume, volumeLabels(ref.key.service, this.host))),
        );
      commands.push(...describeCommands(KIND, planContainer(record.spec, this.host, record.image)));
      details.image = record.image;
    } else if (info) {
      commands.push(quoteCommand(['docker', 'container', 'inspect', ref.id]));
    }
    const files = [
      {
        path: join(this.directoryOf(ref.key), 'workload.json'),
        purpose: 'the spec it was made from',
      },
    ];
    if (info?.LogPath) {
      files.push({ path: info.LogPath, purpose: 'stdout and stderr (the json-file log driver)' });
      details.log_path = info.LogPath;
    }
    if (info?.HostConfig.Runtime) details.runtime = info.HostConfig.Runtime;
    return { ref, commands, files, details };
  }

  /**
   * The container's output from the engine's log driver. With `follow` it goes on across
   * restarts of the container until `signal` aborts: when a run ends, it waits for the next
   * start (an event, not a poll) and reads on after the latest message it gave (by the
   * messages' own timestamps, so nothing repeats).
   */
  async *logs(ref: WorkloadRef, options: LogOptions = {}): AsyncIterable<LogChunk> {
    if (!(await this.#inspect(ref))) throw this.#notFound(ref);
    yield* readLogs(this.engine, ref.id, options, {
      nextStart: (signal) => this.#nextStart(ref.id, signal),
      closed: () => this.#closed,
      call: (doing, work) => this.#call(ref.key, doing, work),
    });
  }

  /** Resolves at the container's next `start` or `destroy` event, or when `signal` aborts. */
  #nextStart(
    id: string,
    signal: AbortSignal | undefined,
  ): { promise: Promise<void>; cancel(): void } {
    let wake: () => void = () => {};
    const promise = new Promise<void>((resolve) => {
      wake = resolve;
    });
    if (this.#closed) wake();
    const waiters = this.#startWaiters.get(id) ?? new Set();
    waiters.add(wake);
    this.#startWaiters.set(id, waiters);
    signal?.addEventListener('abort', wake, { once: true });
    return {
      promise,
      cancel: () => {
        signal?.removeEventListener('abort', wake);
        waiters.delete(wake);
        if (!waiters.size && this.#startWaiters.get(id) === waiters) this.#startWaiters.delete(id);
      },
    };
  }

  /** The Engine API's stats, read once (`docker stats --no-stream`'s figures). */
  async usage(ref: WorkloadRef): Promise<WorkloadUsage | undefined> {
    const info = await this.#inspect(ref);
    if (!info) throw this.#notFound(ref);
    if (!isRunning(info)) return undefined;
    return this.#call(ref.key, 'reading its usage', () => this.engine.usage(ref.id));
  }

  async exec(ref: WorkloadRef, options: ExecOptions): Promise<ExecSession> {
    const info = await this.#inspect(ref);
    if (!info) throw this.#notFound(ref);
    if (!isRunning(info))
      throw new DriverError(`docker: workload ${label(ref.key)} is not running`, {
        code: 'exited',
        driver: KIND,
        workload: ref.key,
      });
    const handle = await this.#call(ref.key, 'starting a command in it', () =>
      this.engine.exec(ref.id, {
        command: options.command,
        tty: options.tty ?? false,
        stdin: options.stdin ?? false,
        environment: Object.entries(options.environment ?? {}).map(([k, v]) => `${k}=${v}`),
      }),
    );
    return execSession(this.engine, handle, options);
  }

  on<E extends keyof WorkloadEvents>(event: E, listener: WorkloadListener<E>): () => void {
    if (event !== 'exit') return () => {};
    const l = listener as WorkloadListener<'exit'>;
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#events.close();
    // Followers of logs stop waiting for a next run the driver would no longer hear of.
    for (const waiters of this.#startWaiters.values()) for (const wake of waiters) wake();
  }

  // --- tracking and exits

  #track(ref: WorkloadRef, runNs: bigint, reportedNs: bigint, stopRequested: boolean): Workload {
    const workload: Workload = { ref, runNs, reportedNs, stopRequested };
    this.#workloads.set(ref.id, workload);
    return workload;
  }

  #forget(id: string): void {
    this.#workloads.delete(id);
  }

  /** Starts tracking a container found in the engine; runs that ended unwatched are not reported. */
  #adoptOne(info: ContainerInfo): Workload | undefined {
    const labels = info.Config.Labels ?? {};
    const service = labels[LABELS.service];
    const name = labels[LABELS.workload];
    if (!service || !name || labels[LABELS.host] !== this.host) return undefined;
    const key = { service, name };
    const started = nanos(info.State.StartedAt);
    const workload = this.#track(
      { kind: KIND, key, id: info.Id },
      started,
      isRunning(info) ? -1n : started,
      existsSync(this.#stopMarker(key)) && this.#load(key)?.id === info.Id,
    );
    if (isRunning(info)) workload.pid = info.State.Pid;
    return workload;
  }

  /**
   * Compares a fresh inspect with what the driver knew, and reports the exit of a run that
   * ended and was not reported yet. A stale inspect (of an earlier run) changes nothing.
   */
  #settle(workload: Workload, info: ContainerInfo, died?: DiedEvent): void {
    const started = nanos(info.State.StartedAt);
    if (started < workload.runNs) return;
    if (isRunning(info)) {
      // Running again already (e.g. `docker restart`): the run before ended unseen, unless
      // its `die` event is the one being handled.
      if (started > workload.runNs && workload.runNs > 0n && workload.reportedNs !== workload.runNs)
        this.#emit(workload, died ?? { time: new Date().toISOString(), lost: true });
      workload.runNs = started;
      workload.pid = info.State.Pid;
      return;
    }
    workload.runNs = started;
    if (started === 0n || workload.reportedNs === started) return;
    const exitCode = info.State.ExitCode;
    const signal = signalOf(exitCode);
    this.#emit(workload, {
      time: isoTime(info.State.FinishedAt) ?? new Date().toISOString(),
      exitCode,
      ...(signal ? { signal } : {}),
    });
  }

  #emit(workload: Workload, exit: Omit<WorkloadExit, 'ref' | 'requested'>): void {
    workload.reportedNs = workload.runNs;
    const event: WorkloadExit = {
      ref: workload.ref,
      ...(workload.pid !== undefined ? { pid: workload.pid } : {}),
      ...exit,
      requested: workload.stopRequested,
    };
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#log('error', `docker: an exit listener threw: ${String(error)}`);
      }
    }
  }

  #onEvent(event: DockerEvent): void {
    if (event.Type !== 'container') return;
    if (event.Action === 'start' || event.Action === 'destroy')
      for (const wake of this.#startWaiters.get(event.Actor.ID) ?? []) wake();
    if (event.Action !== 'start' && event.Action !== 'die') return;
    const workload = this.#workloads.get(event.Actor.ID);
    if (!workload || workload.deleting) return;
    void this.engine
      .inspectContainer(workload.ref.id)
      .then((info) => {
        if (this.#workloads.get(workload.ref.id) !== workload) return;
        const died = event.Action === 'die' ? diedOf(event) : undefined;
        if (info) return this.#settle(workload, info, died);
        // Removed before we looked: the event itself tells the exit.
        if (died && workload.reportedNs !== workload.runNs) this.#emit(workload, died);
      })
      .catch((error: unknown) =>
        this.#log(
          'warn',
          `docker: inspecting ${workload.ref.id} after ${event.Action}: ${String(error)}`,
        ),
      );
  }

  /** After every (re)connection: inspect what is tracked, once, and report missed exits. */
  async #resync(): Promise<void> {
    for (const workload of [...this.#workloads.values()]) {
      if (workload.deleting) continue;
      const info = await this.engine.inspectContainer(workload.ref.id);
      if (info) {
        this.#settle(workload, info);
        continue;
      }
      // Removed while the driver was not listening.
      if (workload.runNs > 0n && workload.reportedNs !== workload.runNs)
        this.#emit(workload, { time: new Date().toISOString(), lost: true });
      this.#forget(workload.ref.id);
    }
  }

  // --- helpers

  async #status(workload: Workload): Promise<WorkloadStatus> {
    const info = await this.#inspect(workload.ref);
    if (!info) throw this.#notFound(workload.ref);
    this.#settle(workload, info);
    return this.#statusOf(workload, info);
  }

  #statusOf(workload: Workload, info: ContainerInfo): WorkloadStatus {
    const running = isRunning(info);
    const state = running ? 'running' : workload.stopRequested ? 'stopped' : 'exited';
    const attributes: Record<string, Value> = {
      state,
      container_id: info.Id,
      container_name: info.Name.replace(/^\//, ''),
      image: info.Image,
    };
    const status: WorkloadStatus = { ref: workload.ref, state, attributes };
    if (running && info.State.Pid > 0) {
      status.pid = info.State.Pid;
      attributes.pid = info.State.Pid;
    }
    const startedAt = isoTime(info.State.StartedAt);
    if (startedAt) {
      status.startedAt = startedAt;
      attributes.started_at = startedAt;
    }
    const finishedAt = isoTime(info.State.FinishedAt);
    if (!running && finishedAt) {
      status.exitedAt = finishedAt;
      attributes.exited_at = finishedAt;
      status.exitCode = info.State.ExitCode;
      attributes.exit_code = info.State.ExitCode;
      const signal = signalOf(info.State.ExitCode);
      if (signal) {
        status.signal = signal;
        attributes.signal = signal;
      }
    }
    attributes.ports = this.#portsOf(workload, info);
    // Where the workload itself listens: docker-proxy accepts on the host port before the
    // workload does, so a TCP readiness check belongs on this address and the port inside.
    const address = Object.values(info.NetworkSettings?.Networks ?? {}).find(
      (n) => n.IPAddress,
    )?.IPAddress;
    if (running && address) attributes.ip_address = address;
    return status;
  }

  /**
   * The host port of each of the workload's ports, by name (as for every kind); by the port
   * inside (`8080/tcp`) for a container whose spec the driver no longer has.
   */
  #portsOf(workload: Workload, info: ContainerInfo): Record<string, Value> {
    if (!workload.ports) {
      const record = this.#load(workload.ref.key);
      if (record?.id === workload.ref.id)
        workload.ports = Object.fromEntries(record.spec.ports.map((p) => [p.name, p.port]));
    }
    if (workload.ports) return workload.ports;
    const ports: Record<string, Value> = {};
    for (const [inside, bindings] of Object.entries(info.HostConfig.PortBindings ?? {}))
      for (const b of (bindings ?? []) as { HostPort?: string }[])
        if (b.HostPort) ports[inside] = Number(b.HostPort);
    return ports;
  }

  async #inspect(ref: WorkloadRef): Promise<ContainerInfo | undefined> {
    if (ref.kind !== KIND) return undefined;
    return this.#call(ref.key, 'inspecting its container', () =>
      this.engine.inspectContainer(ref.id),
    );
  }

  /** The tracked workload of a ref (adopting it if the engine has it), else `not-found`. */
  async #require(ref: WorkloadRef): Promise<Workload> {
    const known = this.#workloads.get(ref.id);
    if (known) return known;
    const info = await this.#inspect(ref);
    const adopted = info ? this.#adoptOne(info) : undefined;
    if (!adopted) throw this.#notFound(ref);
    return adopted;
  }

  #notFound(ref: WorkloadRef): DriverError {
    return new DriverError(`docker: workload ${label(ref.key)}: no container ${ref.id}`, {
      code: 'not-found',
      driver: KIND,
      workload: ref.key,
    });
  }

  #failed(key: WorkloadKey, doing: string, error: unknown): DriverError {
    if (error instanceof DriverError) return error;
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const cause =
      code === 'ENOENT' || code === 'ECONNREFUSED'
        ? `dockerd does not answer at ${this.engine.socketPath} (${code}): is it running?`
        : engineMessage(error);
    return new DriverError(`docker: workload ${label(key)}: ${doing}: ${cause}`, {
      code: 'start-failed',
      driver: KIND,
      workload: key,
      cause: error,
    });
  }

  /** Runs an Engine API call, turning its failure into a `DriverError` naming the workload. */
  async #call<T>(key: WorkloadKey, doing: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.#failed(key, doing, error);
    }
  }

  /** Takes back what a failed create made: its volumes, and an image only it used. */
  async #undo(made: { volumes: string[]; image?: string }): Promise<void> {
    for (const volume of made.volumes) await this.engine.removeVolume(volume).catch(() => false);
    if (made.image) await this.#images.removeIfUnused(made.image).catch(() => false);
  }

  #stopMarker(key: WorkloadKey): string {
    return join(this.directoryOf(key), 'stop-requested');
  }

  async #markStopped(key: WorkloadKey): Promise<void> {
    if (!existsSync(this.directoryOf(key))) return;
    await writeFile(this.#stopMarker(key), '').catch(() => {});
  }

  /**
   * Writes a workload's record. The spec may hold secrets (passwords in the environment), so
   * only the agent's user reads it: the file is 0600 and its directories 0700, as the process
   * driver keeps its environment files.
   */
  async #save(key: WorkloadKey, record: WorkloadRecord): Promise<void> {
    const directory = this.directoryOf(key);
    await mkdir(directory, { recursive: true, mode: 0o700 });
    // Directories made before (or by an older version) are narrowed too.
    for (const d of [this.root, join(this.root, key.service), directory]) await chmod(d, 0o700);
    const file = join(directory, 'workload.json');
    await writeFile(file, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
  }

  /** Removes a workload's directory, and its service's once empty. */
  async #removeFiles(key: WorkloadKey): Promise<void> {
    await rm(this.directoryOf(key), { recursive: true, force: true });
    await rmdir(join(this.root, key.service)).catch(() => {});
  }

  #load(key: WorkloadKey): WorkloadRecord | undefined {
    try {
      return JSON.parse(
        readFileSync(join(this.directoryOf(key), 'workload.json'), 'utf8'),
      ) as WorkloadRecord;
    } catch {
      return undefined;
    }
  }
}

/** An exit as a `die` event tells it. */
type DiedEvent = Omit<WorkloadExit, 'ref' | 'requested'>;

function diedOf(event: DockerEvent): DiedEvent {
  const code = Number(event.Actor.Attributes.exitCode);
  const signal = Number.isInteger(code) ? signalOf(code) : undefined;
  return {
    time: new Date(Math.floor(event.timeNano / 1e6)).toISOString(),
    ...(Number.isInteger(code) ? { exitCode: code } : {}),
    ...(signal ? { signal } : {}),
  };
}

function label(key: WorkloadKey): string {
  return `${key.service}/${key.name}`;
}
