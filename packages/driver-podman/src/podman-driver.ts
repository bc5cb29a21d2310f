/**
 * The Podman workload driver: containers and pods through libpod's REST API, exits from one
 * long-lived libpod event stream. The engine is the source of truth: containers carry
 * Khutulun's labels, so a fresh driver (after an agent restart) finds this host's containers
 * by label, and a sysadmin finds them with `podman ps --filter label=...`. The driver keeps a
 * small record per workload in its state directory (the spec it was made from, for
 * `describe`, and whether it was stopped on request).
 */
import { EventEmitter } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import {
  type DriverContext,
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
  type WorkloadFile,
  type WorkloadKey,
  type WorkloadListener,
  type WorkloadRef,
  type WorkloadSpec,
  type WorkloadState,
  type WorkloadStatus,
} from '@khutulun/driver';
import {
  ArchiveImages,
  type ContainerPlan,
  checkContainer,
  containerName,
  containerPort,
  containerProperties,
  describeCommands,
  imageImportCommands,
  isArchiveReference,
  LABELS,
  planContainer,
  volumeCreateCommand,
  workloadLabels,
} from '@khutulun/driver-container';
import {
  errorMessage,
  HttpLibpodClient,
  type LibpodClient,
  type LibpodResponse,
} from './libpod-client.js';
import type {
  ContainerInspect,
  ContainerSummary,
  LibpodEvent,
  PodInspect,
} from './libpod-types.js';
import { FrameReader } from './stream-frames.js';

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
}

type Value = WorkloadStatus['attributes'][string];

const KIND = 'podman';
const DEFAULT_GRACE_MS = 10_000;

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};
const SIGNAL_NAMES = new Map(Object.entries(SIGNALS).map(([name, n]) => [n, name]));

/** A signal name or number as libpod's spec generator takes it (a number). */
function signalNumber(signal: string): number | undefined {
  if (/^\d+$/.test(signal)) return Number(signal);
  const name = signal.toUpperCase().startsWith('SIG')
    ? signal.toUpperCase()
    : `SIG${signal.toUpperCase()}`;
  return SIGNALS[name];
}

/** An exit code of 128 + n as the signal n's name (how the engine reports a kill). */
function signalOf(code: number | undefined): string | undefined {
  return code !== undefined && code > 128 && code < 160 ? SIGNAL_NAMES.get(code - 128) : undefined;
}

/** Nanoseconds since the epoch of an RFC 3339 time with up to nine fractional digits. */
function nanos(time: string | undefined): bigint | undefined {
  if (!time) return undefined;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(time);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 9));
}

/** A zero time (`0001-01-01...`) means never. */
function realTime(time: string | undefined): string | undefined {
  return time && !time.startsWith('0001-') ? time : undefined;
}

const keyId = (key: WorkloadKey) => `${key.service}/${key.name}`;

/** What the driver records per workload in its state directory. */
interface WorkloadRecord {
  ref: WorkloadRef;
  spec: WorkloadSpec;
  /** The image reference the container was made from. */
  image?: string;
  /** The named volumes this workload's create made (removed on delete). */
  createdVolumes: string[];
  /** Stopped on request (`stop`), and not restarted since. */
  stopped: boolean;
}

/** What the driver knows of one container's current run (for pods: the infra container's). */
interface Run {
  ref: WorkloadRef;
  running: boolean;
  pid?: number;
  /** Nanoseconds: a `died` event older than this belongs to an earlier run. */
  startedAt?: bigint;
  /** The exit of this run was reported. */
  reported: boolean;
}

/** A container's state in the engine, however it was read. */
interface EngineState {
  running: boolean;
  pid?: number;
  startedAt?: string;
  exitedAt?: string;
  exitCode?: number;
  image?: string;
  podId?: string;
  containerId: string;
  name: string;
  logPath?: string;
}

/** The Podman workload driver. */
export class PodmanDriver implements WorkloadDriver {
  readonly kind = KIND;
  readonly #client: LibpodClient;
  readonly #directory: string;
  readonly #host: string;
  readonly #log: DriverContext['log'];
  readonly #events = new EventEmitter();
  /** Emits a container's ID on each of its events (for `logs` following across restarts). */
  readonly #changes = new EventEmitter();
  readonly #images: ArchiveImages;
  /** By container ID (a pod's infra container for pods). */
  readonly #runs = new Map<string, Run>();
  /** Workloads whose exit is one `stop`/`delete` asked for, by `service/name`. */
  readonly #stopping = new Set<string>();
  /** The records read or written, by `service/name` (the files are this driver's alone). */
  readonly #records = new Map<string, WorkloadRecord>();
  readonly #maxDelay: number;
  #stream: { destroy(): void } | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #delay = 100;
  #closed = false;
  /** Resolves once the event stream is connected and the first resync is done. */
  #synced: Promise<void>;
  #markSynced: () => void = () => {};

  constructor(options: PodmanDriverOptions) {
    this.#client =
      typeof options.client === 'string' ? new HttpLibpodClient(options.client) : options.client;
    this.#directory = options.stateDirectory;
    this.#host = options.host ?? hostname();
    this.#log = options.log ?? (() => {});
    this.#maxDelay = options.maxReconnectDelayMs ?? 2_000;
    this.#events.setMaxListeners(0);
    this.#changes.setMaxListeners(0);
    this.#images = new ArchiveImages({
      exists: async (reference) =>
        (await this.#client.call('GET', `/images/${encodeURIComponent(reference)}/exists`))
          .status === 204,
      put: (archive, reference) => this.#putImage(archive, reference),
      removeUnlessUsed: async (reference) => {
        const res = await this.#client.call('DELETE', `/images/${encodeURIComponent(reference)}`);
        return res.status === 200;
      },
    });
    this.#synced = new Promise((resolve) => {
      this.#markSynced = resolve;
    });
    this.#connect();
  }

  /** The host name this driver labels containers with. */
  get host(): string {
    return this.#host;
  }

  /** The libpod client (for the kind and tests). */
  get client(): LibpodClient {
    return this.#client;
  }

  // ---------------------------------------------------------------- events

  /**
   * Opens the event stream (containers of this host only). Once connected, lists once and
   * compares (a resync), so nothing is missed across a reconnect. When the stream ends
   * (the service stopped or restarted), reconnects with backoff; nothing runs while it is
   * connected and idle.
   */
  #connect(): void {
    if (this.#closed) return;
    const abort = new AbortController();
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#stream = undefined;
      if (this.#closed) return;
      this.#reconnectTimer = setTimeout(() => {
        this.#reconnectTimer = undefined;
        this.#connect();
      }, this.#delay);
      this.#delay = Math.min(this.#delay * 2, this.#maxDelay);
    };
    this.#stream = { destroy: () => abort.abort() };
    this.#client
      .stream(
        '/events',
        {
          stream: true,
          filters: { type: ['container'], label: [`${LABELS.host}=${this.#host}`] },
        },
        abort.signal,
      )
      .then(
        (res) => {
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
              const line = buffer.slice(0, i).trim();
              buffer = buffer.slice(i + 1);
              if (line) this.#onEvent(line);
            }
          });
          res.once('end', end);
          res.once('close', end);
          res.once('error', end);
          this.#delay = 100;
          this.#resync().then(
            () => this.#markSynced(),
            (error: unknown) => {
              this.#log('warn', `podman: resync failed: ${(error as Error).message}`);
              res.destroy();
            },
          );
        },
        () => end(),
      );
  }

  #onEvent(line: string): void {
    let event: LibpodEvent;
    try {
      event = JSON.parse(line) as LibpodEvent;
    } catch {
      return;
    }
    if (event.Type !== 'container') return;
    const id = event.Actor?.ID;
    if (id) this.#changes.emit(id);
    const run = id ? this.#runs.get(id) : undefined;
    const at =
      event.timeNano !== undefined ? BigInt(event.timeNano) : BigInt(event.time) * 1_000_000_000n;
    if (event.Action === 'start' && run) {
      if (!run.running && (run.startedAt === undefined || at >= run.startedAt)) {
        run.running = true;
        run.reported = false;
        run.startedAt = at;
        run.pid = undefined;
      }
      return;
    }
    if (event.Action !== 'died') return;
    if (!run) {
      const attributes = event.Actor.Attributes ?? {};
      const service = attributes[LABELS.service];
      const name = attributes[LABELS.workload];
      // A container made after the last resync by another instance: learn it, report nothing.
      if (id && service && name) this.#log('debug', `podman: died: unknown container ${id}`);
      return;
    }
    if (run.reported || (run.startedAt !== undefined && at < run.startedAt)) return;
    const code = Number(event.Actor.Attributes?.containerExitCode);
    this.#reportExit(run, {
      exitCode: Number.isFinite(code) ? code : undefined,
      time: new Date(Number(at / 1_000_000n)).toISOString(),
    });
  }

  #reportExit(run: Run, exit: { exitCode?: number; time: string; lost?: boolean }): void {
    run.running = false;
    run.reported = true;
    const event: WorkloadExit = {
      ref: run.ref,
      time: exit.time,
      requested: this.#stopping.has(keyId(run.ref.key)),
    };
    if (run.pid) event.pid = run.pid;
    if (exit.exitCode !== undefined) {
      event.exitCode = exit.exitCode;
      const signal = signalOf(exit.exitCode);
      if (signal) event.signal = signal;
    }
    if (exit.lost) event.lost = true;
    this.#events.emit('exit', event);
  }

  /**
   * Lists this host's containers once and compares with what the driver knew: a run it knew
   * as running that has ended gets its exit reported (it was missed while the stream was
   * down); containers it had not seen are learnt without an event.
   */
  async #resync(): Promise<ContainerSummary[]> {
    const all = await this.#listContainers();
    const seen = new Set<string>();
    for (const summary of all) {
      const ref = this.#refOfSummary(summary);
      if (!ref) continue;
      seen.add(summary.Id);
      const running = summary.State === 'running';
      const run = this.#runs.get(summary.Id);
      if (!run) {
        this.#runs.set(summary.Id, {
          ref,
          running,
          reported: !running,
          ...(summary.Pid ? { pid: summary.Pid } : {}),
          startedAt: BigInt(summary.StartedAt) * 1_000_000_000n,
        });
      } else if (run.running && !running && !run.reported) {
        this.#reportExit(run, {
          exitCode: summary.ExitCode,
          time: new Date((summary.ExitedAt || Date.now() / 1000) * 1000).toISOString(),
        });
      } else if (!run.running && running) {
        run.running = true;
        run.reported = false;
        if (summary.Pid) run.pid = summary.Pid;
      }
    }
    for (const [id, run] of this.#runs) {
      if (seen.has(id)) continue;
      this.#runs.delete(id);
      // Removed by someone while the stream was down.
      if (run.running && !run.reported)
        this.#reportExit(run, { time: new Date().toISOString(), lost: true });
    }
    return all;
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
    if (res.status !== 200) throw this.#libpodFailure('list containers', res);
    return res.body ?? [];
  }

  /** The workload a listed container is (a pod's infra container stands for its pod). */
  #refOfSummary(summary: ContainerSummary): WorkloadRef | undefined {
    const labels = summary.Labels ?? {};
    const service = labels[LABELS.service];
    const name = labels[LABELS.workload];
    if (!service || !name) return undefined;
    return { kind: KIND, key: { service, name }, id: summary.IsInfra ? summary.Pod : summary.Id };
  }

  async #inspectContainer(id: string): Promise<ContainerInspect | undefined> {
    const res = await this.#client.call<ContainerInspect>(
      'GET',
      `/containers/${encodeURIComponent(id)}/json`,
    );
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.#libpodFailure(`inspect container ${id}`, res);
    return res.body;
  }

  async #inspectPod(id: string): Promise<PodInspect | undefined> {
    const res = await this.#client.call<PodInspect>('GET', `/pods/${encodeURIComponent(id)}/json`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.#libpodFailure(`inspect pod ${id}`, res);
    return res.body;
  }

  /** The engine state of a workload (for a pod, its infra container's), or undefined if gone. */
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
    if (c.State.Pid) state.pid = c.State.Pid;
    const started = realTime(c.State.StartedAt);
    if (started) state.startedAt = started;
    if (!c.State.Running) {
      const finished = realTime(c.State.FinishedAt);
      if (finished) state.exitedAt = finished;
      if (finished || c.State.Status === 'exited') state.exitCode = c.State.ExitCode;
    }
    if (!podId) state.image = c.ImageName;
    if (c.HostConfig.LogConfig?.Path) state.logPath = c.HostConfig.LogConfig.Path;
    return state;
  }

  /** Whether a ref is a pod's: the record says so, else the engine. */
  async #isPod(ref: WorkloadRef): Promise<boolean> {
    const record = await this.#readRecord(ref.key);
    if (record?.ref.id === ref.id) return record.spec.properties.type === 'pod';
    return (
      (await this.#client.call('GET', `/pods/${encodeURIComponent(ref.id)}/exists`)).status === 204
    );
  }

  async #status(ref: WorkloadRef, engine: EngineState): Promise<WorkloadStatus> {
    const record = await this.#readRecord(ref.key);
    const stopped = this.#stopping.has(keyId(ref.key)) || record?.stopped === true;
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
      container_id: engine.containerId,
      container_name: engine.name,
      type: engine.podId ? 'pod' : 'container',
    };
    if (engine.podId) attributes.pod_id = engine.podId;
    if (engine.image) attributes.image = engine.image;
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

  /**
   * Expects a new run of a container, before asking the engine to start it: its exit is
   * reported by the `died` event (or the next resync), however soon it comes; a `died` event
   * older than now belongs to an earlier run.
   */
  #expectRun(ref: WorkloadRef, containerId: string): void {
    this.#runs.set(containerId, {
      ref,
      running: true,
      reported: false,
      startedAt: BigInt(Date.now()) * 1_000_000n,
    });
  }

  /** Adds what the engine says of a run just started (its PID and start time). */
  #learn(engine: EngineState): void {
    const run = this.#runs.get(engine.containerId);
    if (!run || run.reported || !engine.running) return;
    if (engine.pid) run.pid = engine.pid;
    const started = nanos(engine.startedAt);
    if (started !== undefined) run.startedAt = started;
  }

  // ---------------------------------------------------------------- records

  #recordFile(key: WorkloadKey): string {
    return join(this.#directory, 'workloads', key.service, `${key.name}.json`);
  }

  async #readRecord(key: WorkloadKey): Promise<WorkloadRecord | undefined> {
    const cached = this.#records.get(keyId(key));
    if (cached) return cached;
    try {
      const record = JSON.parse(await readFile(this.#recordFile(key), 'utf8')) as WorkloadRecord;
      this.#records.set(keyId(key), record);
      return record;
    } catch {
      return undefined;
    }
  }

  async #removeRecord(key: WorkloadKey): Promise<void> {
    this.#records.delete(keyId(key));
    await rm(this.#recordFile(key), { force: true });
  }

  async #writeRecord(record: WorkloadRecord): Promise<void> {
    const file = this.#recordFile(record.ref.key);
    await mkdir(join(this.#directory, 'workloads', record.ref.key.service), { recursive: true });
    this.#records.set(keyId(record.ref.key), record);
    await writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    await rename(`${file}.tmp`, file);
  }

  async #setStopped(key: WorkloadKey, stopped: boolean): Promise<void> {
    const record = await this.#readRecord(key);
    if (record && record.stopped !== stopped) await this.#writeRecord({ ...record, stopped });
  }

  // ---------------------------------------------------------------- errors

  #libpodFailure(what: string, res: LibpodResponse, key?: WorkloadKey): DriverError {
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
    // the hosts Khutulun runs on today have v1/v2 hybrids.
    return diffSpecs(from, to);
  }

  async #putImage(
    archive: { file: string; format: 'rootfs' | 'oci-archive' | 'docker-archive' },
    reference: string,
  ): Promise<void> {
    if (archive.format === 'rootfs') {
      const res = await this.#client.call('POST', '/images/import', {
        query: { reference },
        stream: createReadStream(archive.file),
      });
      if (res.status !== 200) throw this.#libpodFailure(`import ${archive.file}`, res);
      return;
    }
    const res = await this.#client.call<{ Names?: string[] }>('POST', '/images/load', {
      stream: createReadStream(archive.file),
    });
    if (res.status !== 200) throw this.#libpodFailure(`load ${archive.file}`, res);
    const loaded = res.body?.Names?.[0];
    if (!loaded) throw this.#libpodFailure(`load ${archive.file} (no image in it)`, res);
    const [repo, tag] = splitReference(reference);
    const tagged = await this.#client.call('POST', `/images/${encodeURIComponent(loaded)}/tag`, {
      query: { repo, tag },
    });
    if (tagged.status !== 201) throw this.#libpodFailure(`tag ${loaded} as ${reference}`, tagged);
  }

  async create(spec: WorkloadSpec): Promise<WorkloadStatus> {
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
    const key = keyId(spec.key);
    this.#stopping.delete(key);

    let imageRef: string | undefined;
    let held: string | undefined;
    const createdVolumes: string[] = [];
    let made: string | undefined;
    try {
      if (!isPod) {
        if (props.image_archive) {
          try {
            const acquired = await this.#images.acquire(props.image_archive);
            held = imageRef = acquired.reference;
          } catch (error) {
            throw new DriverError(
              `workload ${key}: podman could not import the image archive ${props.image_archive.file}: ${(error as Error).message}`,
              { code: 'start-failed', driver: KIND, workload: spec.key, cause: error },
            );
          }
        } else {
          imageRef = props.image;
          const exists = await this.#client.call(
            'GET',
            `/images/${encodeURIComponent(imageRef ?? '')}/exists`,
          );
          if (exists.status !== 204)
            throw new DriverError(
              `workload ${key}: image ${imageRef} is not in podman's store (Khutulun never pulls: give the container an image archive, or load the image first)`,
              { code: 'start-failed', driver: KIND, workload: spec.key },
            );
        }
      }
      const plan = planContainer(spec, this.#host, imageRef);
      for (const mount of plan.mounts) {
        if (mount.type !== 'volume' || !mount.source) continue;
        const volume = mount.source;
        const exists = await this.#client.call(
          'GET',
          `/volumes/${encodeURIComponent(volume)}/exists`,
        );
        if (exists.status === 204) continue;
        const res = await this.#client.call('POST', '/volumes/create', {
          body: { Name: volume, Label: workloadLabels(spec.key, this.#host) },
        });
        if (res.status !== 201) throw this.#libpodFailure(`create volume ${volume}`, res, spec.key);
        createdVolumes.push(volume);
      }
      let id: string;
      if (isPod) {
        const res = await this.#client.call<{ Id: string }>('POST', '/pods/create', {
          body: podBody(plan),
        });
        if (res.status !== 201) throw this.#libpodFailure(`create pod ${name}`, res, spec.key);
        id = made = res.body.Id;
        const pod = await this.#inspectPod(id);
        if (pod) this.#expectRun({ kind: KIND, key: spec.key, id }, pod.InfraContainerID);
        const started = await this.#client.call('POST', `/pods/${id}/start`);
        if (started.status !== 200 && started.status !== 304)
          throw this.#libpodFailure(`start pod ${name}`, started, spec.key);
      } else {
        const res = await this.#client.call<{ Id: string }>('POST', '/containers/create', {
          body: containerBody(plan),
        });
        if (res.status !== 201)
          throw this.#libpodFailure(`create container ${name}`, res, spec.key);
        id = made = res.body.Id;
        this.#expectRun({ kind: KIND, key: spec.key, id }, id);
        const started = await this.#client.call('POST', `/containers/${id}/start`);
        if (started.status !== 204 && started.status !== 304)
          throw this.#libpodFailure(`start container ${name}`, started, spec.key);
      }
      const ref: WorkloadRef = { kind: KIND, key: spec.key, id };
      const record: WorkloadRecord = { ref, spec, createdVolumes, stopped: false };
      if (imageRef) record.image = imageRef;
      await this.#writeRecord(record);
      const engine = await this.#engineState(ref);
      if (!engine)
        throw this.#libpodFailure(
          `find ${name} after starting it`,
          { status: 404, body: '' },
          spec.key,
        );
      this.#learn(engine);
      return this.#status(ref, engine);
    } catch (error) {
      // Leave nothing behind: the container or pod, the volumes made for it, the image.
      if (made) {
        for (const [id, run] of this.#runs) if (run.ref.id === made) this.#runs.delete(id);
        const path = isPod ? `/pods/${made}` : `/containers/${made}`;
        await this.#client
          .call('DELETE', path, { query: { force: true, v: true } })
          .catch(() => {});
      }
      await this.#removeRecord(spec.key);
      for (const volume of createdVolumes)
        await this.#client.call('DELETE', `/volumes/${encodeURIComponent(volume)}`).catch(() => {});
      if (held) {
        this.#images.release(held);
        held = undefined;
        if (imageRef) await this.#images.removeIfUnused(imageRef).catch(() => false);
      }
      throw error;
    } finally {
      if (held) this.#images.release(held);
    }
  }

  /**
   * Refuses a key whose workload runs; removes an ended one of the same name (a replacement),
   * keeping its volumes.
   */
  async #replaceEnded(key: WorkloadKey, isPod: boolean, name: string): Promise<void> {
    const existing = isPod ? await this.#inspectPod(name) : await this.#inspectContainer(name);
    if (!existing) return;
    const running = isPod
      ? (existing as PodInspect).State === 'Running' ||
        (existing as PodInspect).State === 'Degraded'
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
      throw this.#libpodFailure(`remove the ended ${name}`, res, key);
  }

  async read(ref: WorkloadRef): Promise<WorkloadStatus | undefined> {
    const engine = await this.#engineState(ref);
    return engine ? this.#status(ref, engine) : undefined;
  }

  async restart(ref: WorkloadRef): Promise<WorkloadStatus> {
    const run = this.#runs.get(ref.id);
    if (run && !run.running && !(await this.#isPod(ref))) {
      // The fast path (the agent's restart after an exit event): start, then read once.
      this.#stopping.delete(keyId(ref.key));
      this.#expectRun(ref, ref.id);
      const res = await this.#client.call('POST', `/containers/${ref.id}/start`);
      if (res.status >= 400) {
        this.#runs.delete(ref.id);
        if (res.status === 404) throw this.#notFound(ref);
        throw this.#libpodFailure(`start ${containerName(ref.key)}`, res, ref.key);
      }
      await this.#setStopped(ref.key, false);
      const engine = await this.#engineState(ref);
      if (!engine) throw this.#notFound(ref);
      this.#learn(engine);
      return this.#status(ref, engine);
    }
    const before = await this.#engineState(ref);
    if (!before) throw this.#notFound(ref);
    if (before.running) return this.#status(ref, before);
    this.#stopping.delete(keyId(ref.key));
    this.#expectRun(ref, before.containerId);
    const path = before.podId ? `/pods/${ref.id}/start` : `/containers/${ref.id}/start`;
    const res = await this.#client.call('POST', path);
    if (res.status >= 400) {
      this.#runs.delete(before.containerId);
      throw this.#libpodFailure(`start ${before.name}`, res, ref.key);
    }
    await this.#setStopped(ref.key, false);
    const engine = await this.#engineState(ref);
    if (!engine) throw this.#notFound(ref);
    this.#learn(engine);
    return this.#status(ref, engine);
  }

  /** Marks a pod's members as stopping: their exits come from the pod's stop. */
  async #markMembers(podId: string): Promise<void> {
    const pod = await this.#inspectPod(podId);
    for (const c of pod?.Containers ?? []) {
      const run = this.#runs.get(c.Id);
      if (run && run.ref.id !== podId) this.#stopping.add(keyId(run.ref.key));
    }
  }

  async stop(ref: WorkloadRef, options: StopOptions = {}): Promise<WorkloadStatus> {
    const before = await this.#engineState(ref);
    if (!before) throw this.#notFound(ref);
    this.#stopping.add(keyId(ref.key));
    await this.#setStopped(ref.key, true);
    if (before.running) {
      const seconds = Math.ceil((options.graceMs ?? DEFAULT_GRACE_MS) / 1000);
      let res: LibpodResponse;
      if (before.podId) {
        await this.#markMembers(before.podId);
        res = await this.#client.call('POST', `/pods/${ref.id}/stop`, { query: { t: seconds } });
      } else {
        res = await this.#client.call('POST', `/containers/${ref.id}/stop`, {
          query: { timeout: seconds },
        });
      }
      if (res.status >= 400 && res.status !== 304 && res.status !== 404)
        throw new DriverError(
          `workload ${keyId(ref.key)}: podman could not stop ${before.name}: ${errorMessage(res.body)}`,
          {
            code: 'stop-failed',
            driver: KIND,
            workload: ref.key,
          },
        );
    }
    const engine = await this.#engineState(ref);
    if (!engine) throw this.#notFound(ref);
    return this.#status(ref, engine);
  }

  async delete(ref: WorkloadRef, options: StopOptions = {}): Promise<boolean> {
    const engine = await this.#engineState(ref);
    const record = await this.#readRecord(ref.key);
    if (!engine) {
      if (record?.ref.id === ref.id) await this.#removeRecord(ref.key);
      return false;
    }
    if (engine.running) await this.stop(ref, options);
    this.#stopping.add(keyId(ref.key));
    if (engine.podId) {
      await this.#markMembers(engine.podId);
      const res = await this.#client.call('DELETE', `/pods/${ref.id}`, { query: { force: true } });
      if (res.status >= 400 && res.status !== 404)
        throw this.#libpodFailure(`remove pod ${engine.name}`, res, ref.key);
    } else {
      const res = await this.#client.call('DELETE', `/containers/${ref.id}`, {
        query: { force: true, v: true },
      });
      if (res.status >= 400 && res.status !== 404)
        throw this.#libpodFailure(`remove container ${engine.name}`, res, ref.key);
    }
    this.#runs.delete(engine.containerId);
    // The named volumes this workload's create made (labelled with its key), if now unused.
    const volumes = await this.#client.call<{ Name: string }[]>('GET', '/volumes/json', {
      query: {
        filters: {
          label: [
            `${LABELS.service}=${ref.key.service}`,
            `${LABELS.workload}=${ref.key.name}`,
            `${LABELS.host}=${this.#host}`,
          ],
        },
      },
    });
    for (const volume of volumes.status === 200 ? (volumes.body ?? []) : [])
      await this.#client.call('DELETE', `/volumes/${encodeURIComponent(volume.Name)}`);
    const image = engine.image ?? record?.image;
    if (image && isArchiveReference(image)) await this.#images.removeIfUnused(image);
    await this.#removeRecord(ref.key);
    return true;
  }

  async adopt(): Promise<WorkloadStatus[]> {
    await this.#resync();
    return this.list();
  }

  async list(): Promise<WorkloadStatus[]> {
    const out: WorkloadStatus[] = [];
    for (const summary of await this.#listContainers()) {
      const ref = this.#refOfSummary(summary);
      if (!ref) continue;
      const engine: EngineState = {
        running: summary.State === 'running',
        containerId: summary.Id,
        name: summary.IsInfra ? containerName(ref.key) : (summary.Names[0] ?? ''),
      };
      if (summary.IsInfra) engine.podId = summary.Pod;
      else engine.image = summary.Image;
      if (summary.Pid) engine.pid = summary.Pid;
      if (summary.StartedAt) engine.startedAt = new Date(summary.StartedAt * 1000).toISOString();
      if (summary.State !== 'running' && summary.State !== 'created') {
        engine.exitCode = summary.ExitCode;
        if (summary.ExitedAt) engine.exitedAt = new Date(summary.ExitedAt * 1000).toISOString();
      }
      out.push(await this.#status(ref, engine));
    }
    return out.sort((a, b) => keyId(a.ref.key).localeCompare(keyId(b.ref.key)));
  }

  async describe(ref: WorkloadRef): Promise<WorkloadDescription | undefined> {
    const engine = await this.#engineState(ref);
    const record = await this.#readRecord(ref.key);
    if (!engine || !record) return undefined;
    const plan = planContainer(record.spec, this.#host, record.image);
    const commands: string[] = [];
    for (const volume of record.createdVolumes)
      commands.push(
        quoteCommand(volumeCreateCommand('podman', volume, workloadLabels(ref.key, this.#host))),
      );
    const archive = containerProperties(record.spec).image_archive;
    if (archive && record.image)
      for (const words of imageImportCommands('podman', archive, record.image))
        commands.push(quoteCommand(words));
    commands.push(...describeCommands('podman', plan));
    const files: WorkloadFile[] = [
      { path: this.#recordFile(ref.key), purpose: 'the spec Khutulun made the container from' },
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

  /**
   * The container's output from libpod's logs. The log file outlives runs, so with `follow`
   * the iteration continues across restarts (it waits for the next start, event-driven) until
   * `signal` aborts or the container is removed. `tail` is applied here, per stream (libpod
   * counts the last lines of both streams together).
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
    if (options.signal?.aborted) abort.abort();
    const chunk = (frame: { stream: number; data: Buffer }): LogChunk => ({
      stream: frame.stream === 2 ? 'stderr' : 'stdout',
      data: new Uint8Array(frame.data),
    });
    try {
      // What exists now, of which the last `tail` lines.
      const existing = await this.#readFrames(
        engine.containerId,
        { ...query, follow: false },
        abort.signal,
      );
      let seen = existing.length;
      const shown =
        options.tail === undefined
          ? existing
          : existing.slice(Math.max(0, existing.length - options.tail));
      for (const frame of shown) yield chunk(frame);
      if (!options.follow) return;
      const id = engine.containerId;
      let startedAt: string | undefined;
      while (!abort.signal.aborted) {
        // This run's output as it comes, until it ends. libpod's follow of an exited container
        // never ends (nor sees the next run), so the run's end (its event) cuts it.
        const runEnded = new AbortController();
        const cut = () => runEnded.abort();
        abort.signal.addEventListener('abort', cut, { once: true });
        const check = async () => {
          const c = await this.#inspectContainer(id).catch(() => undefined);
          // Let libpod flush the last lines first.
          if (!c?.State.Running) setTimeout(cut, 300).unref();
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
              for await (const data of res) {
                for (const frame of reader.push(data as Buffer)) {
                  if (frame.stream !== 1 && frame.stream !== 2) continue;
                  if (index++ < seen) continue;
                  seen++;
                  yield chunk(frame);
                }
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
        const all = await this.#readFrames(id, { ...query, follow: false }, abort.signal);
        for (const frame of all.slice(seen)) yield chunk(frame);
        seen = Math.max(seen, all.length);
        if (!(await this.#nextRun(id, startedAt, abort.signal))) return;
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      abort.abort();
    }
  }

  /** Every frame of a container's logs now (stdout and stderr only). */
  async #readFrames(
    containerId: string,
    query: { stdout: boolean; stderr: boolean; follow: boolean },
    signal: AbortSignal,
  ): Promise<{ stream: number; data: Buffer }[]> {
    const res = await this.#client.stream(`/containers/${containerId}/logs`, query, signal);
    const reader = new FrameReader();
    const frames: { stream: number; data: Buffer }[] = [];
    for await (const data of res)
      for (const frame of reader.push(data as Buffer))
        if (frame.stream === 1 || frame.stream === 2) frames.push(frame);
    return frames;
  }

  /**
   * Waits for a container's run after the one started at `after` (its `start` event): true
   * once there is one (it may have ended already), false if the container was removed or the
   * wait aborted.
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

  async exec(ref: WorkloadRef, options: ExecOptions): Promise<ExecSession> {
    const engine = await this.#engineState(ref);
    if (!engine) throw this.#notFound(ref);
    if (!engine.running)
      throw new DriverError(`workload ${keyId(ref.key)} is not running`, {
        code: 'exited',
        driver: KIND,
        workload: ref.key,
      });
    const tty = options.tty === true;
    const created = await this.#client.call<{ Id: string }>(
      'POST',
      `/containers/${engine.containerId}/exec`,
      {
        body: {
          AttachStdin: options.stdin === true,
          AttachStdout: true,
          AttachStderr: true,
          Tty: tty,
          Cmd: options.command,
          Env: Object.entries(options.environment ?? {}).map(([k, v]) => `${k}=${v}`),
        },
      },
    );
    if (created.status !== 201) throw this.#libpodFailure('exec', created, ref.key);
    const execId = created.body.Id;
    const body: Record<string, unknown> = { Detach: false, Tty: tty };
    if (tty && options.columns && options.rows) {
      body.h = options.rows;
      body.w = options.columns;
    }
    const socket = await this.#client.hijack(`/exec/${execId}/start`, body);
    const stdout = new PassThrough();
    const stderr = tty ? undefined : new PassThrough();
    if (tty) socket.pipe(stdout);
    else {
      const reader = new FrameReader();
      socket.on('data', (chunk: Buffer) => {
        for (const frame of reader.push(chunk)) {
          if (frame.stream === 2) stderr?.write(frame.data);
          else if (frame.stream === 1) stdout.write(frame.data);
        }
      });
      const finish = () => {
        stdout.end();
        stderr?.end();
      };
      socket.once('end', finish);
      socket.once('close', finish);
    }
    let stdin: Writable | undefined;
    if (options.stdin) {
      stdin = new Writable({
        write: (chunk, _encoding, done) => {
          socket.write(chunk, done);
        },
        final: (done) => {
          socket.end();
          done();
        },
      });
    }
    const exit = new Promise<{ code: number }>((resolve) => {
      socket.once('close', async () => {
        // libpod ends the connection once the command ended; its exit code is in the session.
        for (let attempt = 0; attempt < 50; attempt++) {
          const res = await this.#client
            .call<{ Running: boolean; ExitCode: number }>('GET', `/exec/${execId}/json`)
            .catch(() => undefined);
          if (res?.status !== 200) return resolve({ code: 255 });
          if (!res.body.Running) return resolve({ code: res.body.ExitCode });
          await new Promise((r) => setTimeout(r, 20));
        }
        resolve({ code: 255 });
      });
    });
    exit.catch(() => {});
    return {
      stdin,
      stdout,
      stderr,
      exit,
      resize: (columns, rows) => {
        if (!tty) return;
        void this.#client
          .call('POST', `/exec/${execId}/resize`, { query: { h: rows, w: columns } })
          .catch(() => {});
      },
      kill: () => socket.destroy(),
    };
  }

  /** Resolves once the event stream has connected and resynced the first time. */
  synced(): Promise<void> {
    return this.#synced;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#stream?.destroy();
    this.#client.close();
  }
}

/** `repo:tag` split at the tag's colon (not a registry port's). */
function splitReference(reference: string): [string, string] {
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  return colon > slash
    ? [reference.slice(0, colon), reference.slice(colon + 1)]
    : [reference, 'latest'];
}

/** The libpod spec generator body of a container plan. */
export function containerBody(plan: ContainerPlan): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: plan.name,
    image: plan.image,
    labels: plan.labels,
    env: plan.environment,
    restart_policy: 'no',
    portmappings: plan.ports.map((p) => ({
      host_ip: p.hostAddress ?? '0.0.0.0',
      host_port: p.port,
      container_port: containerPort(p),
      protocol: p.protocol,
    })),
  };
  if (plan.pod) body.pod = plan.pod;
  if (plan.command) body.command = plan.command;
  if (plan.entrypoint) body.entrypoint = plan.entrypoint;
  if (plan.user) body.user = plan.user;
  if (plan.workingDirectory) body.work_dir = plan.workingDirectory;
  if (plan.hostname) body.hostname = plan.hostname;
  if (plan.runtime) body.oci_runtime = plan.runtime;
  if (plan.stopSignal) body.stop_signal = signalNumber(plan.stopSignal);
  const mounts: unknown[] = [];
  const volumes: unknown[] = [];
  for (const m of plan.mounts) {
    if (m.type === 'volume')
      volumes.push({ Name: m.source, Dest: m.target, Options: m.readOnly ? ['ro'] : [] });
    else if (m.type === 'bind')
      mounts.push({
        destination: m.target,
        type: 'bind',
        source: m.source,
        options: ['rbind', ...(m.readOnly ? ['ro'] : [])],
      });
    else
      mounts.push({
        destination: m.target,
        type: 'tmpfs',
        source: 'tmpfs',
        options: m.readOnly ? ['ro'] : [],
      });
  }
  if (mounts.length) body.mounts = mounts;
  if (volumes.length) body.volumes = volumes;
  const limits: Record<string, unknown> = {};
  if (plan.limits.cpus !== undefined)
    limits.cpu = { quota: Math.round(plan.limits.cpus * 100_000), period: 100_000 };
  if (plan.limits.memoryBytes !== undefined) limits.memory = { limit: plan.limits.memoryBytes };
  if (plan.limits.pids !== undefined) limits.pids = { limit: plan.limits.pids };
  if (Object.keys(limits).length) body.resource_limits = limits;
  return body;
}

/** The libpod pod spec generator body of a pod plan. */
export function podBody(plan: ContainerPlan): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: plan.name,
    labels: plan.labels,
    portmappings: plan.ports.map((p) => ({
      host_ip: p.hostAddress ?? '0.0.0.0',
      host_port: p.port,
      container_port: containerPort(p),
      protocol: p.protocol,
    })),
  };
  if (plan.hostname) body.hostname = plan.hostname;
  return body;
}
