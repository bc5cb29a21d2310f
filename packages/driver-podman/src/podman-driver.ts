/**
 * The Podman workload driver: containers and pods through libpod's REST API, exits from one
 * long-lived libpod event stream. The engine is the source of truth: containers carry
 * Khutulun's labels, so a fresh driver (after an agent restart) finds this host's containers
 * by label, and a sysadmin finds them with `podman ps --filter label=...`. A small record per
 * workload in the state directory adds what the engine does not keep (the spec, for
 * `describe`; whether it was stopped on request).
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import {
  type DriverContext,
  DriverError,
  diffSpecs,
  type ExecOptions,
  type ExecSession,
  isDriverError,
  type LogChunk,
  type LogOptions,
  type Problem,
  quoteCommand,
  type StopOptions,
  type WorkloadDescription,
  type WorkloadDiff,
  type WorkloadDriver,
  type WorkloadEvents,
  type WorkloadFile,
  type WorkloadKey,
  type WorkloadListener,
  type WorkloadRef,
  type WorkloadSpec,
  type WorkloadState,
  type WorkloadStatus,
  type WorkloadUsage,
} from '@khutulun/driver';
import {
  ArchiveImages,
  checkContainer,
  containerName,
  containerPort,
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
import { ExitTracker, type ListedContainer } from './exit-tracker.js';
import { containerBody, podBody, signalOf } from './libpod-bodies.js';
import {
  errorMessage,
  guardLibpod,
  HttpLibpodClient,
  type LibpodClient,
  type LibpodResponse,
} from './libpod-client.js';
import { LibpodEventStream } from './libpod-event-stream.js';
import type { ContainerInspect, ContainerSummary, PodInspect } from './libpod-types.js';
import { startExec } from './podman-exec.js';
import { imageExists, podmanImageStore } from './podman-images.js';
import { type Frame, FrameReader } from './stream-frames.js';
import { type WorkloadRecord, WorkloadRecords } from './workload-records.js';

/** Options of a `PodmanDriver`. */
export interface PodmanDriverOptions {
  /** The libpod client, or the socket of a `podman system service`. */
  client: LibpodClient | string;
  /** The driver's own directory (`<agent state>/podman`): a record per workload. */
  stateDirectory: string;
  /** This host's name, put on every container as `io.khutulun.host` (default: the hostname). */
  host?: string;
  log?: DriverContext['log'];
  /** The longest wait between reconnects of the event stream (default 2 s). */
  maxReconnectDelayMs?: number;
  /** Called by `close` (the kind stops supervising a service it started). */
  onClose?: () => void;
  /**
   * Called when the event stream to the service ends (the service stopped, restarted or
   * died): the kind restarts a service it owns that no longer answers.
   */
  onDisconnected?: () => void;
}

type Value = WorkloadStatus['attributes'][string];

const KIND = 'podman';
const DEFAULT_GRACE_MS = 10_000;
/** How long after a run's end a follow of its logs is cut (libpod flushes the last lines). */
const LOG_FLUSH_MS = 300;

const keyId = (key: WorkloadKey) => `${key.service}/${key.name}`;

/** A zero time (`0001-01-01...`) means never. */
function realTime(time: string | undefined): string | undefined {
  return time && !time.startsWith('0001-') ? time : undefined;
}

/** A workload's container (for a pod: its infra container) as the engine has it now. */
interface EngineState {
  running: boolean;
  containerId: string;
  /** The container's (or pod's) name. */
  name: string;
  podId?: string;
  pid?: number;
  startedAt?: string;
  exitedAt?: string;
  exitCode?: number;
  image?: string;
  logPath?: string;
  /** The container's own address (on the podman network), while it runs. */
  address?: string;
}

/** A listed container with what `list` shows of it. */
interface ListedWorkload extends ListedContainer {
  name: string;
  image?: string;
}

/** The Podman workload driver. */
export class PodmanDriver implements WorkloadDriver {
  readonly kind = KIND;
  readonly #client: LibpodClient;
  readonly #host: string;
  readonly #log: DriverContext['log'];
  readonly #events = new EventEmitter();
  /** Emits a container's ID on each of its events (`logs` follows across restarts by it). */
  readonly #changes = new EventEmitter();
  readonly #images: ArchiveImages;
  readonly #records: WorkloadRecords;
  readonly #exits: ExitTracker;
  readonly #stream: LibpodEventStream;
  readonly #onClose: (() => void) | undefined;
  /** Aborted by `close`: ends every follow of logs (the driver hears no more events). */
  readonly #closing = new AbortController();

  constructor(options: PodmanDriverOptions) {
    const client =
      typeof options.client === 'string' ? new HttpLibpodClient(options.client) : options.client;
    this.#client = guardLibpod(
      client,
      (error) =>
        new DriverError(
          `the podman service does not answer on ${client.socketPath}: ${error.message}`,
          { code: 'io-failed', driver: KIND, cause: error },
        ),
    );
    this.#host = options.host ?? hostname();
    this.#log = options.log ?? (() => {});
    this.#onClose = options.onClose;
    this.#events.setMaxListeners(0);
    this.#changes.setMaxListeners(0);
    this.#images = new ArchiveImages(podmanImageStore(this.#client));
    this.#records = new WorkloadRecords(options.stateDirectory);
    this.#exits = new ExitTracker((exit) => this.#events.emit('exit', exit));
    this.#stream = new LibpodEventStream(
      this.#client,
      {
        event: (event) => {
          if (event.Type !== 'container') return;
          this.#exits.event(event);
          if (event.Actor?.ID) this.#changes.emit(event.Actor.ID);
        },
        // Every (re)connect: list once and compare, so nothing missed meanwhile is lost.
        connected: () => {
          this.#exits
            .resync(() => this.#listed())
            .catch((error: unknown) => {
              this.#log('warn', `podman: resync failed: ${(error as Error).message}`);
              this.#stream.reconnect();
            });
        },
        disconnected: (error) => {
          this.#log(
            'debug',
            `podman: event stream ended${error ? ` (${(error as Error).message})` : ''}`,
          );
          options.onDisconnected?.();
        },
      },
      {
        // Only what changes a run (execs and health checks wake nothing).
        filters: {
          type: ['container'],
          event: ['start', 'died', 'remove'],
          label: [`${LABELS.host}=${this.#host}`],
        },
        ...(options.maxReconnectDelayMs ? { maxDelayMs: options.maxReconnectDelayMs } : {}),
      },
    );
  }

  /** The host name this driver labels containers with. */
  get host(): string {
    return this.#host;
  }

  on<E extends keyof WorkloadEvents>(event: E, listener: WorkloadListener<E>): () => void {
    this.#events.on(event, listener);
    return () => this.#events.off(event, listener);
  }

  // ---------------------------------------------------------------- engine reads

  async #listContainers(): Promise<ContainerSummary[]> {
    const res = await this.#client.call<ContainerSummary[]>('GET', '/containers/json', {
      query: { all: true, filters: { label: [`${LABELS.host}=${this.#host}`] } },
    });
    if (res.status !== 200) throw this.#failure('list containers', res);
    return res.body ?? [];
  }

  /** This host's containers as workloads (a pod's infra container stands for its pod). */
  async #listed(): Promise<ListedWorkload[]> {
    const out: ListedWorkload[] = [];
    for (const s of await this.#listContainers()) {
      const service = s.Labels?.[LABELS.service];
      const name = s.Labels?.[LABELS.workload];
      if (!service || !name) continue;
      const key = { service, name };
      const listed: ListedWorkload = {
        containerId: s.Id,
        ref: { kind: KIND, key, id: s.IsInfra ? s.Pod : s.Id },
        running: s.State === 'running',
        name: s.IsInfra ? containerName(key) : (s.Names[0] ?? containerName(key)),
      };
      if (!s.IsInfra) listed.image = s.Image;
      if (s.Pid) listed.pid = s.Pid;
      if (s.StartedAt) listed.startedAt = s.StartedAt;
      if (s.State !== 'running' && s.State !== 'created') {
        listed.exitCode = s.ExitCode;
        if (s.ExitedAt) listed.exitedAt = s.ExitedAt;
      }
      out.push(listed);
    }
    return out;
  }

  async #inspectContainer(id: string): Promise<ContainerInspect | undefined> {
    const res = await this.#client.call<ContainerInspect>(
      'GET',
      `/containers/${encodeURIComponent(id)}/json`,
    );
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.#failure(`inspect container ${id}`, res);
    return res.body;
  }

  async #inspectPod(id: string): Promise<PodInspect | undefined> {
    const res = await this.#client.call<PodInspect>('GET', `/pods/${encodeURIComponent(id)}/json`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.#failure(`inspect pod ${id}`, res);
    return res.body;
  }

  /** Whether a ref is a pod's: the record says so, else the engine. */
  async #isPod(ref: WorkloadRef): Promise<boolean> {
    const record = await this.#records.read(ref.key);
    if (record?.ref.id === ref.id) return record.spec.properties.type === 'pod';
    const res = await this.#client.call('GET', `/pods/${encodeURIComponent(ref.id)}/exists`);
    return res.status === 204;
  }

  /** A workload's state in the engine (a pod's: its infra container's), or undefined if gone. */
  async #engineState(ref: WorkloadRef): Promise<EngineState | undefined> {
    let podId: string | undefined;
    let containerId = ref.id;
    if (await this.#isPod(ref)) {
      const pod = await this.#inspectPod(ref.id);
      if (!pod) return undefined;
      podId = pod.Id;
      containerId = pod.InfraContainerID;
    }
    const c = await this.#inspectContainer(containerId);
    if (!c) return undefined;
    const labels = c.Config.Labels ?? {};
    if (labels[LABELS.workload] !== ref.key.name || labels[LABELS.service] !== ref.key.service)
      return undefined;
    const state: EngineState = {
      running: c.State.Running,
      containerId: c.Id,
      name: podId ? containerName(ref.key) : c.Name,
    };
    if (podId) state.podId = podId;
    else state.image = c.ImageName;
    if (c.State.Pid) state.pid = c.State.Pid;
    const started = realTime(c.State.StartedAt);
    if (started) state.startedAt = started;
    if (!c.State.Running) {
      const finished = realTime(c.State.FinishedAt);
      if (finished) state.exitedAt = finished;
      if (finished || c.State.Status === 'exited') state.exitCode = c.State.ExitCode;
    }
    if (c.HostConfig.LogConfig?.Path) state.logPath = c.HostConfig.LogConfig.Path;
    const address =
      c.NetworkSettings?.IPAddress ||
      Object.values(c.NetworkSettings?.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress;
    if (c.State.Running && address) state.address = address;
    return state;
  }

  async #status(ref: WorkloadRef, engine: EngineState): Promise<WorkloadStatus> {
    const record = await this.#records.read(ref.key);
    const stopped = this.#exits.isStopping(ref.key) || record?.stopped === true;
    const state: WorkloadState = engine.running ? 'running' : stopped ? 'stopped' : 'exited';
    const status: WorkloadStatus = { ref, state, attributes: {} };
    if (engine.running && engine.pid) status.pid = engine.pid;
    if (engine.startedAt) status.startedAt = engine.startedAt;
    if (!engine.running) {
      if (engine.exitedAt) status.exitedAt = engine.exitedAt;
      if (engine.exitCode !== undefined) {
        status.exitCode = engine.exitCode;
        const signal = signalOf(engine.exitCode);
        if (signal) status.signal = signal;
      }
    }
    const attributes: Record<string, Value> = {
      state,
      type: engine.podId ? 'pod' : 'container',
      container_id: engine.containerId,
      container_name: engine.name,
    };
    if (engine.podId) attributes.pod_id = engine.podId;
    if (engine.image) attributes.image = engine.image;
    // Health checks can reach the workload there at its inside port (as for docker, whose
    // proxy accepts on the published port before the workload listens).
    if (engine.address) attributes.ip_address = engine.address;
    if (status.pid) attributes.pid = status.pid;
    if (status.startedAt) attributes.started_at = status.startedAt;
    if (status.exitCode !== undefined) attributes.exit_code = status.exitCode;
    if (record)
      attributes.ports = record.spec.ports.map((p) => ({
        name: p.name,
        port: p.port,
        target: containerPort(p),
        protocol: p.protocol,
      }));
    status.attributes = attributes;
    return status;
  }

  /** The status of a run just started: records its PID and start time for its exit. */
  async #started(ref: WorkloadRef): Promise<WorkloadStatus> {
    const engine = await this.#engineState(ref);
    if (!engine) throw this.#notFound(ref);
    this.#exits.learn(engine.containerId, engine.pid, engine.startedAt);
    return this.#status(ref, engine);
  }

  // ---------------------------------------------------------------- errors

  #failure(what: string, res: LibpodResponse, key?: WorkloadKey): DriverError {
    return new DriverError(
      `${key ? `workload ${keyId(key)}: ` : ''}podman could not ${what}: ${errorMessage(res.body)}`,
      { code: 'start-failed', driver: KIND, ...(key ? { workload: key } : {}) },
    );
  }

  #notFound(ref: WorkloadRef): DriverError {
    return new DriverError(`no podman workload ${keyId(ref.key)} (${ref.id})`, {
      code: 'not-found',
      driver: KIND,
      workload: ref.key,
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async check(spec: WorkloadSpec): Promise<Problem[]> {
    return checkContainer(spec);
  }

  async diff(from: WorkloadSpec, to: WorkloadSpec): Promise<WorkloadDiff> {
    // Everything replaces: `podman update` changes limits in place only on cgroups v2, and
    // these hosts are v1/v2 hybrids (podman info: cgroupVersion v1).
    return diffSpecs(from, to);
  }

  /**
   * Makes and starts the container (or pod). A failure at any step removes what this create
   * made (container or pod, volumes, an image it imported): nothing is left behind.
   */
  async create(spec: WorkloadSpec): Promise<WorkloadStatus> {
    try {
      return await this.#create(spec);
    } catch (error) {
      // Every failure names the workload (an engine that is down too).
      if (isDriverError(error) && !error.workload)
        throw new DriverError(`workload ${keyId(spec.key)}: ${error.message}`, {
          code: error.code,
          driver: KIND,
          workload: spec.key,
          cause: error,
        });
      throw error;
    }
  }

  async #create(spec: WorkloadSpec): Promise<WorkloadStatus> {
    const problems = checkContainer(spec);
    if (problems.length)
      throw new DriverError(
        `invalid podman spec for ${keyId(spec.key)}: ${problems.map((p) => `${p.path.join('.') || 'spec'}: ${p.message}`).join('; ')}`,
        { code: 'invalid-spec', driver: KIND, workload: spec.key, problems },
      );
    const props = containerProperties(spec);
    const isPod = props.type === 'pod';
    const name = containerName(spec.key);
    await this.#replaceEnded(spec.key, isPod, name);

    let image: string | undefined;
    let held: string | undefined;
    const createdVolumes: string[] = [];
    let made: { id: string; eventId: string } | undefined;
    try {
      if (!isPod) image = await this.#image(spec.key, props);
      if (props.image_archive) held = image;
      const plan = planContainer(spec, this.#host, image);
      for (const mount of plan.mounts)
        if (
          mount.type === 'volume' &&
          mount.source &&
          (await this.#makeVolume(spec.key, mount.source))
        )
          createdVolumes.push(mount.source);
      const ref: WorkloadRef = { kind: KIND, key: spec.key, id: '' };
      if (isPod) {
        const res = await this.#client.call<{ Id: string }>('POST', '/pods/create', {
          body: podBody(plan),
        });
        if (res.status !== 201) throw this.#failure(`create pod ${name}`, res, spec.key);
        ref.id = res.body.Id;
        const pod = await this.#inspectPod(ref.id);
        made = { id: ref.id, eventId: pod?.InfraContainerID ?? ref.id };
        this.#exits.expectRun(ref, made.eventId);
        const started = await this.#client.call('POST', `/pods/${ref.id}/start`);
        if (started.status !== 200 && started.status !== 304)
          throw this.#failure(`start pod ${name}`, started, spec.key);
      } else {
        const res = await this.#client.call<{ Id: string }>('POST', '/containers/create', {
          body: containerBody(plan),
        });
        if (res.status !== 201) throw this.#failure(`create container ${name}`, res, spec.key);
        ref.id = res.body.Id;
        made = { id: ref.id, eventId: ref.id };
        this.#exits.expectRun(ref, ref.id);
        const started = await this.#client.call('POST', `/containers/${ref.id}/start`);
        if (started.status !== 204 && started.status !== 304)
          throw this.#failure(`start container ${name}`, started, spec.key);
      }
      const record: WorkloadRecord = { ref, spec, createdVolumes, stopped: false };
      if (image) record.image = image;
      await this.#records.write(record);
      return await this.#started(ref);
    } catch (error) {
      if (made) {
        this.#exits.forget(made.eventId);
        const path = isPod ? `/pods/${made.id}` : `/containers/${made.id}`;
        await this.#client
          .call('DELETE', path, { query: { force: true, v: true } })
          .catch(() => {});
      }
      await this.#records.remove(spec.key);
      for (const volume of createdVolumes)
        await this.#client.call('DELETE', `/volumes/${encodeURIComponent(volume)}`).catch(() => {});
      if (held) {
        this.#images.release(held);
        const reference = held;
        held = undefined;
        await this.#images.removeIfUnused(reference).catch(() => false);
      }
      throw error;
    } finally {
      if (held) this.#images.release(held);
    }
  }

  /**
   * The image of a container: its archive imported (once per digest; held until `release`),
   * or its `image`, which must be in the store already (Khutulun never pulls).
   */
  async #image(
    key: WorkloadKey,
    props: ReturnType<typeof containerProperties>,
  ): Promise<string | undefined> {
    if (props.image_archive) {
      try {
        return (await this.#images.acquire(props.image_archive)).reference;
      } catch (error) {
        throw new DriverError(
          `workload ${keyId(key)}: podman could not import the image archive ${props.image_archive.file}: ${(error as Error).message}`,
          { code: 'start-failed', driver: KIND, workload: key, cause: error },
        );
      }
    }
    const image = props.image ?? '';
    if (!(await imageExists(this.#client, image)))
      throw new DriverError(
        `workload ${keyId(key)}: image ${image} is not in podman's store (Khutulun never pulls: give the container an image archive, or load the image first)`,
        { code: 'start-failed', driver: KIND, workload: key },
      );
    return image;
  }

  /** Makes a named volume with its service's labels unless it exists; true if it made it. */
  async #makeVolume(key: WorkloadKey, volume: string): Promise<boolean> {
    const path = `/volumes/${encodeURIComponent(volume)}/exists`;
    if ((await this.#client.call('GET', path)).status === 204) return false;
    const res = await this.#client.call('POST', '/volumes/create', {
      body: { Name: volume, Label: volumeLabels(key.service, this.#host) },
    });
    if (res.status !== 201) throw this.#failure(`create volume ${volume}`, res, key);
    return true;
  }

  /**
   * Refuses a key whose workload runs, and a name taken by anything else (see
   * `containerName`); removes an ended run of this workload (a replacement), keeping its
   * volumes.
   */
  async #replaceEnded(key: WorkloadKey, isPod: boolean, name: string): Promise<void> {
    const existing = isPod ? await this.#inspectPod(name) : await this.#inspectContainer(name);
    if (!existing) return;
    const labels = isPod
      ? (existing as PodInspect).Labels
      : (existing as ContainerInspect).Config.Labels;
    if (!isWorkloadOf(labels, key, this.#host))
      throw new DriverError(
        `workload ${keyId(key)}: the ${isPod ? 'pod' : 'container'} name ${name} is taken by ${ownerOf(labels)} (${existing.Id.slice(0, 12)}); rename the service or the workload`,
        { code: 'already-exists', driver: KIND, workload: key },
      );
    const running = isPod
      ? ['Running', 'Degraded'].includes((existing as PodInspect).State)
      : (existing as ContainerInspect).State.Running;
    if (running)
      throw new DriverError(`workload ${keyId(key)} is already running (${name})`, {
        code: 'already-exists',
        driver: KIND,
        workload: key,
      });
    const path = isPod ? `/pods/${existing.Id}` : `/containers/${existing.Id}`;
    const res = await this.#client.call('DELETE', path, { query: { force: true } });
    if (res.status >= 400 && res.status !== 404)
      throw this.#failure(`remove the ended ${name}`, res, key);
  }

  async read(ref: WorkloadRef): Promise<WorkloadStatus | undefined> {
    const engine = await this.#engineState(ref);
    return engine ? this.#status(ref, engine) : undefined;
  }

  async restart(ref: WorkloadRef): Promise<WorkloadStatus> {
    let containerId = ref.id;
    if (!this.#exits.ended(ref.id) || (await this.#isPod(ref))) {
      // Not the fast path (a container whose exit it reported): ask the engine first.
      const before = await this.#engineState(ref);
      if (!before) throw this.#notFound(ref);
      if (before.running) return this.#status(ref, before);
      containerId = before.containerId;
    }
    const pod = containerId !== ref.id;
    this.#exits.expectRun(ref, containerId);
    const res = await this.#client.call(
      'POST',
      pod ? `/pods/${ref.id}/start` : `/containers/${ref.id}/start`,
    );
    if (res.status >= 400) {
      this.#exits.forget(containerId);
      if (res.status === 404) throw this.#notFound(ref);
      throw this.#failure(`start ${containerName(ref.key)}`, res, ref.key);
    }
    await this.#records.setStopped(ref.key, false);
    return this.#started(ref);
  }

  /** Marks a pod's members as stopping: their exits come from the pod's stop. */
  async #stoppingMembers(podId: string, infraId: string): Promise<void> {
    const pod = await this.#inspectPod(podId);
    for (const c of pod?.Containers ?? []) {
      const member = c.Id === infraId ? undefined : this.#exits.refOf(c.Id);
      if (member) this.#exits.stopping(member.key);
    }
  }

  async stop(ref: WorkloadRef, options: StopOptions = {}): Promise<WorkloadStatus> {
    const before = await this.#engineState(ref);
    if (!before) throw this.#notFound(ref);
    this.#exits.stopping(ref.key);
    await this.#records.setStopped(ref.key, true);
    if (before.running) {
      const seconds = Math.ceil((options.graceMs ?? DEFAULT_GRACE_MS) / 1000);
      let res: LibpodResponse;
      if (before.podId) {
        await this.#stoppingMembers(before.podId, before.containerId);
        res = await this.#client.call('POST', `/pods/${ref.id}/stop`, { query: { t: seconds } });
      } else {
        res = await this.#client.call('POST', `/containers/${ref.id}/stop`, {
          query: { timeout: seconds },
        });
      }
      if (res.status >= 400 && res.status !== 404)
        throw new DriverError(
          `workload ${keyId(ref.key)}: podman could not stop ${before.name}: ${errorMessage(res.body)}`,
          { code: 'stop-failed', driver: KIND, workload: ref.key },
        );
    }
    const engine = await this.#engineState(ref);
    if (!engine) throw this.#notFound(ref);
    return this.#status(ref, engine);
  }

  /**
   * Removes the container (with its anonymous volumes) or the pod (with its members), the
   * service's named volumes it was the last user of (never with a prestart step's container:
   * its workload runs on that data), and its imported image when nothing else uses it.
   */
  async delete(ref: WorkloadRef, options: StopOptions = {}): Promise<boolean> {
    const engine = await this.#engineState(ref);
    const record = await this.#records.read(ref.key);
    if (!engine) {
      if (record?.ref.id === ref.id) await this.#records.remove(ref.key);
      return false;
    }
    if (engine.running) await this.stop(ref, options);
    // A pod's infra container mounts nothing of the service's.
    const container = engine.podId ? undefined : await this.#inspectContainer(engine.containerId);
    this.#exits.stopping(ref.key);
    if (engine.podId) await this.#stoppingMembers(engine.podId, engine.containerId);
    const res = await this.#client.call(
      'DELETE',
      engine.podId ? `/pods/${ref.id}` : `/containers/${ref.id}`,
      { query: engine.podId ? { force: true } : { force: true, v: true } },
    );
    if (res.status >= 400 && res.status !== 404)
      throw this.#failure(`remove ${engine.name}`, res, ref.key);
    this.#exits.forget(engine.containerId);
    for (const mount of container?.Mounts ?? []) {
      if (mount.Type !== 'volume' || !mount.Name) continue;
      const path = `/volumes/${encodeURIComponent(mount.Name)}`;
      const volume = await this.#client.call<{ Labels?: Record<string, string> | null }>(
        'GET',
        `${path}/json`,
      );
      const labels = volume.status === 200 ? (volume.body.Labels ?? {}) : undefined;
      // Without force, libpod keeps a volume another container still uses.
      if (removesVolumeWith(container?.Config.Labels ?? {}, labels, this.#host))
        await this.#client.call('DELETE', path);
    }
    const image = engine.image ?? record?.image;
    if (image && isArchiveReference(image)) await this.#images.removeIfUnused(image);
    await this.#records.remove(ref.key);
    return true;
  }

  async adopt(): Promise<WorkloadStatus[]> {
    await this.#exits.resync(() => this.#listed());
    return this.list();
  }

  async list(): Promise<WorkloadStatus[]> {
    const out: WorkloadStatus[] = [];
    for (const c of await this.#listed()) {
      const engine: EngineState = { running: c.running, containerId: c.containerId, name: c.name };
      if (c.ref.id !== c.containerId) engine.podId = c.ref.id;
      if (c.image) engine.image = c.image;
      if (c.pid) engine.pid = c.pid;
      if (c.startedAt) engine.startedAt = new Date(c.startedAt * 1000).toISOString();
      if (c.exitCode !== undefined) engine.exitCode = c.exitCode;
      if (c.exitedAt) engine.exitedAt = new Date(c.exitedAt * 1000).toISOString();
      out.push(await this.#status(c.ref, engine));
    }
    return out.sort((a, b) => keyId(a.ref.key).localeCompare(keyId(b.ref.key)));
  }

  async describe(ref: WorkloadRef): Promise<WorkloadDescription | undefined> {
    const engine = await this.#engineState(ref);
    const record = await this.#records.read(ref.key);
    if (!engine || !record) return undefined;
    const plan = planContainer(record.spec, this.#host, record.image);
    const commands: string[] = [];
    const labels = volumeLabels(ref.key.service, this.#host);
    for (const volume of record.createdVolumes)
      commands.push(quoteCommand(volumeCreateCommand('podman', volume, labels)));
    const archive = containerProperties(record.spec).image_archive;
    if (archive && record.image)
      for (const words of imageImportCommands('podman', archive, record.image))
        commands.push(quoteCommand(words));
    commands.push(...describeCommands('podman', plan));
    const files: WorkloadFile[] = [
      { path: this.#records.file(ref.key), purpose: 'the spec Khutulun made the container from' },
    ];
    if (engine.logPath)
      files.push({ path: engine.logPath, purpose: 'the container output (podman logs)' });
    const details: Record<string, Value> = {
      container_name: plan.name,
      container_id: engine.containerId,
    };
    if (engine.podId) details.pod_id = engine.podId;
    if (plan.image) details.image = plan.image;
    if (plan.user) details.user = plan.user;
    if (plan.workingDirectory) details.working_directory = plan.workingDirectory;
    return { ref, commands, files, details };
  }

  // ---------------------------------------------------------------- logs and exec

  /**
   * The container's output from libpod's logs. The log file outlives runs, so with `follow`
   * the iteration continues across restarts (it waits for the next start, event-driven) until
   * `signal` aborts or the container is removed. `tail` is applied here, per stream (libpod
   * counts the last lines of both streams together). A pod has no output of its own.
   */
  async *logs(ref: WorkloadRef, options: LogOptions = {}): AsyncIterable<LogChunk> {
    const engine = await this.#engineState(ref);
    if (!engine) throw this.#notFound(ref);
    if (engine.podId) return;
    const which = options.stream ?? 'both';
    const query = { stdout: which !== 'stderr', stderr: which !== 'stdout' };
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.#closing.signal.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted || this.#closing.signal.aborted) abort.abort();
    const chunk = (frame: Frame): LogChunk => ({
      stream: frame.stream === 2 ? 'stderr' : 'stdout',
      data: new Uint8Array(frame.data),
    });
    const id = engine.containerId;
    try {
      const existing = await this.#readFrames(id, query, false, abort.signal);
      let seen = existing.length;
      const shown =
        options.tail === undefined ? existing : existing.slice(Math.max(0, seen - options.tail));
      for (const frame of shown) yield chunk(frame);
      if (!options.follow) return;
      let startedAt: string | undefined;
      while (!abort.signal.aborted) {
        // This run's output as it comes. libpod's follow of an exited container never ends
        // (nor sees the next run), so the run's end (its event) cuts it.
        const runEnded = new AbortController();
        const cut = () => runEnded.abort();
        abort.signal.addEventListener('abort', cut, { once: true });
        const check = async () => {
          const c = await this.#inspectContainer(id).catch(() => undefined);
          if (!c?.State.Running) setTimeout(cut, LOG_FLUSH_MS).unref();
        };
        const onChange = () => void check();
        this.#changes.on(id, onChange);
        try {
          const c = await this.#inspectContainer(id);
          if (!c) return;
          startedAt = c.State.StartedAt;
          if (c.State.Running) {
            const res = await this.#client.stream(
              `/containers/${id}/logs`,
              { ...query, follow: true },
              runEnded.signal,
            );
            void check();
            const reader = new FrameReader();
            let index = 0;
            try {
              for await (const data of res)
                for (const frame of reader.push(data as Buffer)) {
                  if (frame.stream !== 1 && frame.stream !== 2) continue;
                  if (index++ < seen) continue;
                  seen++;
                  yield chunk(frame);
                }
            } catch (error) {
              if (!runEnded.signal.aborted) throw error;
            }
          }
        } finally {
          this.#changes.off(id, onChange);
          abort.signal.removeEventListener('abort', cut);
        }
        if (abort.signal.aborted) return;
        // Whatever the cut left out.
        const all = await this.#readFrames(id, query, false, abort.signal);
        for (const frame of all.slice(seen)) yield chunk(frame);
        seen = Math.max(seen, all.length);
        if (!(await this.#nextRun(id, startedAt, abort.signal))) return;
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      this.#closing.signal.removeEventListener('abort', onAbort);
      abort.abort();
    }
  }

  /** Every frame of a container's logs now (stdout and stderr only). */
  async #readFrames(
    containerId: string,
    query: { stdout: boolean; stderr: boolean },
    follow: boolean,
    signal: AbortSignal,
  ): Promise<Frame[]> {
    const res = await this.#client.stream(
      `/containers/${containerId}/logs`,
      { ...query, follow },
      signal,
    );
    const reader = new FrameReader();
    const frames: Frame[] = [];
    for await (const data of res)
      for (const frame of reader.push(data as Buffer))
        if (frame.stream === 1 || frame.stream === 2) frames.push(frame);
    return frames;
  }

  /**
   * Waits for a container's run after the one started at `after` (by its events): true once
   * there is one (it may have ended already), false if the container was removed or the wait
   * aborted.
   */
  async #nextRun(
    containerId: string,
    after: string | undefined,
    signal: AbortSignal,
  ): Promise<boolean> {
    while (!signal.aborted) {
      const changed = new Promise<void>((resolve) => {
        const done = () => {
          this.#changes.off(containerId, done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#changes.on(containerId, done);
        signal.addEventListener('abort', done, { once: true });
      });
      const c = await this.#inspectContainer(containerId).catch(() => undefined);
      if (!c) return false;
      if (c.State.StartedAt !== after) return true;
      await changed;
    }
    return false;
  }

  /**
   * libpod's stats, read once (`stream=false`): CPUNano and MemUsage of the container, or
   * summed over a pod's containers (its infra container included).
   */
  async usage(ref: WorkloadRef): Promise<WorkloadUsage | undefined> {
    const engine = await this.#engineState(ref);
    if (!engine) throw this.#notFound(ref);
    if (!engine.running) return undefined;
    const ids = engine.podId
      ? ((await this.#inspectPod(engine.podId))?.Containers ?? [])
          .filter((c) => c.State === 'running')
          .map((c) => c.Id)
      : [engine.containerId];
    if (!ids.length) return undefined;
    const query = ids.map((id) => `containers=${encodeURIComponent(id)}`).join('&');
    const res = await this.#client.call<{ Stats?: { CPUNano?: number; MemUsage?: number }[] }>(
      'GET',
      `/containers/stats?${query}&stream=false`,
    );
    if (res.status !== 200) throw this.#failure(`stats of ${keyId(ref.key)}`, res);
    const stats = res.body.Stats ?? [];
    if (!stats.length) return undefined;
    return {
      cpuSeconds: stats.reduce((sum, s) => sum + (s.CPUNano ?? 0), 0) / 1e9,
      memoryBytes: stats.reduce((sum, s) => sum + (s.MemUsage ?? 0), 0),
    };
  }

  async exec(ref: WorkloadRef, options: ExecOptions): Promise<ExecSession> {
    const engine = await this.#engineState(ref);
    if (!engine) throw this.#notFound(ref);
    if (!engine.running)
      throw new DriverError(`workload ${keyId(ref.key)} is not running`, {
        code: 'exited',
        driver: KIND,
        workload: ref.key,
      });
    try {
      return await startExec(this.#client, engine.containerId, options);
    } catch (error) {
      throw new DriverError(
        `workload ${keyId(ref.key)}: podman could not exec ${quoteCommand(options.command)}: ${(error as Error).message}`,
        { code: 'start-failed', driver: KIND, workload: ref.key, cause: error },
      );
    }
  }

  /**
   * Closes the event stream and the client's connections, and ends the follows of logs
   * (their next run would never be heard of); the containers keep running.
   */
  async close(): Promise<void> {
    this.#closing.abort();
    this.#onClose?.();
    this.#stream.close();
    this.#client.close();
  }
}
