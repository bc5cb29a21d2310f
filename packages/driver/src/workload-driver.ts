/**
 * The workload driver contract: the narrow lifecycle every workload kind (process, container,
 * VM) implements, in the shape of a Pulumi provider (check / create / read / update / delete),
 * plus what an event-driven orchestrator needs on top: readiness, stop with a grace period,
 * adoption after an agent restart, and exit events without polling.
 */
import type { Value } from '@khutulun/floria';
import type { Problem } from './driver-error.js';

/** A workload's unique key on a host: the service it belongs to and its name there. */
export interface WorkloadKey {
  service: string;
  name: string;
}

/** A transport protocol of a reserved port. */
export type Protocol = 'tcp' | 'udp';

/** A port reserved for a workload (by a `NetworkDriver`) and handed to its driver. */
export interface PortBinding {
  /** The capability or port name, e.g. `http`. */
  name: string;
  port: number;
  protocol: Protocol;
}

/**
 * What to run. `properties` are the kind's own (validated by `check`); for `process`, see the
 * README: `command`, `arguments`, `environment`, `working_directory`, `user`, `readiness`.
 */
export interface WorkloadSpec {
  key: WorkloadKey;
  properties: Record<string, Value>;
  /** Ports reserved for this workload; drivers pass them to it (e.g. `PORT_HTTP=8080`). */
  ports: PortBinding[];
}

/** How a driver names a workload it made. Plain data: the agent stores it as an attribute. */
export interface WorkloadRef {
  /** The driver kind, e.g. `process`. */
  kind: string;
  key: WorkloadKey;
  /** The driver's own stable identifier (for `process`: `<service>/<name>`). */
  id: string;
}

/**
 * A workload's state as the driver sees it.
 * - `running`: started and not known to have exited.
 * - `exited`: ended on its own (or was killed by someone else); a restart candidate.
 * - `stopped`: ended because `stop` asked it to; not a restart candidate.
 */
export type WorkloadState = 'running' | 'exited' | 'stopped';

/** A workload's status: what `create`, `restart`, `read`, `list` and `adopt` return. */
export interface WorkloadStatus {
  ref: WorkloadRef;
  state: WorkloadState;
  /** The workload's main process ID, when it has one on this host. */
  pid?: number;
  /** ISO 8601 time the current run started. */
  startedAt?: string;
  /** ISO 8601 time the last run ended (`exited`/`stopped`). */
  exitedAt?: string;
  /** Exit code, when the last run exited normally. */
  exitCode?: number;
  /** Signal name (e.g. `SIGKILL`), when the last run was killed by a signal. */
  signal?: string;
  /**
   * The attributes to write back into the graph (e.g. `pid`, `state`, `started_at`,
   * `ports`): JSON values, keyed in TOSCA's snake_case.
   */
  attributes: Record<string, Value>;
}

/** An exit of a workload, reported promptly and without polling. */
export interface WorkloadExit {
  ref: WorkloadRef;
  /** The process ID that exited, when there was one. */
  pid?: number;
  exitCode?: number;
  signal?: string;
  /** ISO 8601 time of the exit. */
  time: string;
  /**
   * True when `stop` (or `delete`) caused the exit: the agent must not restart it.
   * False for crashes, normal ends and kills by anyone else.
   */
  requested: boolean;
  /**
   * True when the driver could not learn the real exit status (e.g. its supervisor was
   * killed too); `exitCode`/`signal` are then absent.
   */
  lost?: boolean;
}

/** The events a workload driver emits, by name. */
export interface WorkloadEvents {
  exit: WorkloadExit;
}

/** A listener for one event type. */
export type WorkloadListener<E extends keyof WorkloadEvents> = (event: WorkloadEvents[E]) => void;

/** Options of `stop`. */
export interface StopOptions {
  /** Time between SIGTERM and SIGKILL (default 10 000 ms). */
  graceMs?: number;
}

/** Options of `ready`. */
export interface ReadyOptions {
  /** Overrides the spec's readiness timeout (default 30 000 ms). */
  timeoutMs?: number;
  /** Abandons the wait (rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** A file a driver made for a workload, for `khutulun workload show`. */
export interface WorkloadFile {
  path: string;
  /** What it holds, e.g. `stdout of the workload`. */
  purpose: string;
}

/** What a driver made for a workload: the exact commands it ran and the files it wrote. */
export interface WorkloadDescription {
  ref: WorkloadRef;
  /** Shell-quoted command lines, as a sysadmin could paste them. */
  commands: string[];
  files: WorkloadFile[];
  /** Kind-specific details (e.g. `user`, `working_directory`). */
  details: Record<string, Value>;
}

/**
 * A workload driver: one per kind and host. Every method is safe to call concurrently for
 * different keys; calls for the same key are serialised by the caller (the agent).
 *
 * Restart policy is the agent's: the driver reports every exit promptly (`on('exit')`) and
 * offers a fast `restart`.
 */
export interface WorkloadDriver {
  /** The kind of workload it runs, e.g. `process`. */
  readonly kind: string;

  /** Validates a spec. Bad input is returned as problems (empty: valid), never thrown. */
  check(spec: WorkloadSpec): Promise<Problem[]>;

  /**
   * Starts the workload and resolves once it runs (not once it is ready: see `ready`).
   * Rejects with `invalid-spec` (check failed), `already-exists` (that key is running) or
   * `start-failed`. A previous, ended workload of the same key is replaced.
   */
  create(spec: WorkloadSpec): Promise<WorkloadStatus>;

  /**
   * Waits until the workload is ready by its spec's readiness (a TCP port accepting, or a
   * command exiting 0); at once when it declares none. Rejects with `not-ready` after the
   * timeout, or `exited` if the workload ends first.
   */
  ready(spec: WorkloadSpec, options?: ReadyOptions): Promise<void>;

  /** The workload's current status, or `undefined` if the driver has none by that ref. */
  read(ref: WorkloadRef): Promise<WorkloadStatus | undefined>;

  /** Replaces a workload's spec in place, if the kind can; otherwise the agent stops and recreates. */
  update?(ref: WorkloadRef, spec: WorkloadSpec): Promise<WorkloadStatus>;

  /**
   * Starts an ended workload again from its stored spec, as fast as the kind allows.
   * Resolves at once with the running status if it is already running.
   */
  restart(ref: WorkloadRef): Promise<WorkloadStatus>;

  /**
   * Stops the workload: SIGTERM (or the kind's equivalent) to all of it, then SIGKILL after
   * `graceMs`. Resolves with the ended status once it is gone; the `exit` event it causes has
   * `requested: true`. Resolves at once if it had already ended.
   */
  stop(ref: WorkloadRef, options?: StopOptions): Promise<WorkloadStatus>;

  /**
   * Removes everything the driver made for the workload (stopping it first if needed):
   * processes, files, watches. Idempotent: resolves `false` if there was nothing.
   */
  delete(ref: WorkloadRef, options?: StopOptions): Promise<boolean>;

  /**
   * After an agent restart: finds every workload of this kind in the state directory,
   * re-attaches exit detection to the running ones, and returns all of them. Workloads that
   * ended while no agent watched appear as `exited` (no `exit` event is emitted for them).
   * Idempotent: never duplicates a watch or a process.
   */
  adopt(): Promise<WorkloadStatus[]>;

  /** The statuses of every workload of this kind the driver has (created or adopted). */
  list(): Promise<WorkloadStatus[]>;

  /** The exact commands and files the driver made for the workload (`undefined` if unknown). */
  describe(ref: WorkloadRef): Promise<WorkloadDescription | undefined>;

  /** Registers a listener; returns the function that removes it. Listeners must not throw. */
  on<E extends keyof WorkloadEvents>(event: E, listener: WorkloadListener<E>): () => void;

  /**
   * Releases the driver's own resources (its watches, which keep the process alive while
   * there are workloads to watch); leaves the workloads running.
   */
  close(): Promise<void>;
}
