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
  /** The port reserved on the host. */
  port: number;
  protocol: Protocol;
  /**
   * The port the workload listens on inside its own network namespace (containers, VMs), to
   * which the host's `port` is mapped. Absent for kinds on the host's network (`process`):
   * they listen on `port` itself.
   */
  target?: number;
  /** The host address to publish on (default: every address the firewall exposes). */
  hostAddress?: string;
}

/**
 * A host path made available inside a workload. Files and data directories are prepared
 * above the drivers (rendered, created with owner and mode) and handed over as mounts:
 * containers and VMs bind-mount them at `target`; kinds on the host's file system (`process`)
 * use `source` directly and ignore `target`.
 */
export interface Mount {
  /** `bind`: a host path; `volume`: a named volume of the engine; `tmpfs`: memory. */
  type: 'bind' | 'volume' | 'tmpfs';
  /** The host path (`bind`) or the volume name (`volume`); absent for `tmpfs`. */
  source?: string;
  /** The path inside the workload. */
  target: string;
  readOnly?: boolean;
}

/**
 * Resource limits every kind applies where it can: containers by the engine's flags, VMs by
 * their domain, processes by cgroup v2 where the host allows it (otherwise the driver warns).
 */
export interface ResourceLimits {
  /** CPUs, fractional (e.g. 0.5). */
  cpus?: number;
  memoryBytes?: number;
  pids?: number;
}

/**
 * What to run. `properties` are the kind's own, mapped from its TOSCA node type by the kind's
 * package (`WorkloadKind.spec`) and validated by `check`; for `process`: `command`,
 * `arguments`, `environment`, `working_directory`, `user`. What every kind shares (ports,
 * mounts, labels, limits) is typed here, once.
 */
export interface WorkloadSpec {
  key: WorkloadKey;
  properties: Record<string, Value>;
  /** Ports reserved for this workload; drivers pass them to it (e.g. `PORT_HTTP=8080`). */
  ports: PortBinding[];
  /** Labels to put on what the driver makes (containers, units); `io.khutulun.*` included. */
  labels?: Record<string, string>;
  mounts?: Mount[];
  limits?: ResourceLimits;
}

/**
 * How a driver names a workload it made. Plain data: the agent stores it (the `ref`
 * attribute) and addresses the workload by it afterwards; nothing rebuilds it from names.
 */
export interface WorkloadRef {
  /** The driver kind, e.g. `process`. */
  kind: string;
  key: WorkloadKey;
  /** The driver's own stable identifier (`process`: `<service>/<name>`; containers: the container ID). */
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

/** Options of `logs`. */
export interface LogOptions {
  /** Which output (default both). */
  stream?: 'stdout' | 'stderr' | 'both';
  /** Only the last N lines of what exists now. */
  tail?: number;
  /** Keep going with new output until `signal` aborts (or the iteration is ended). */
  follow?: boolean;
  signal?: AbortSignal;
}

/** A piece of a workload's output. */
export interface LogChunk {
  stream: 'stdout' | 'stderr';
  data: Uint8Array;
}

/** Options of `exec`. */
export interface ExecOptions {
  /** The program and its arguments. */
  command: string[];
  /** Allocate a terminal (where the kind has one); stdout and stderr are then one stream. */
  tty?: boolean;
  /** Keep stdin open for the caller to write (default false: stdin is empty). */
  stdin?: boolean;
  /** Extra environment. */
  environment?: Record<string, string>;
  /** The terminal size, with `tty`. */
  columns?: number;
  rows?: number;
}

/** A command running inside a workload. */
export interface ExecSession {
  /** Writable when `stdin` was asked for; end it to close the command's stdin. */
  readonly stdin: NodeJS.WritableStream | undefined;
  readonly stdout: NodeJS.ReadableStream;
  /** Absent with `tty` (the terminal merges it into stdout). */
  readonly stderr: NodeJS.ReadableStream | undefined;
  /** Resolves once the command ended, with its exit code (128 + n for a signal n). */
  readonly exit: Promise<{ code: number }>;
  /** Changes the terminal size (with `tty`; otherwise ignored). */
  resize(columns: number, rows: number): void;
  /** Ends the command (and the session) early. */
  kill(): void;
}

/** One changed property path of a spec, in Pulumi's `detailedDiff` shape. */
export interface PropertyDiff {
  kind: 'add' | 'delete' | 'update';
  /** True when this change cannot be applied in place: the workload must be replaced. */
  replace: boolean;
}

/**
 * What changed between two specs of a workload and how it can be applied (Pulumi's
 * `DiffResponse`): in place (`update`) when `replaces` is empty, else by a replacement.
 */
export interface WorkloadDiff {
  /** Whether anything changed. */
  changes: boolean;
  /** Every changed top-level path, e.g. `properties.image`, `ports`, `limits.memoryBytes`. */
  diffs: string[];
  /** The changed paths that force a replacement. */
  replaces: string[];
  /** Per changed path. */
  detailedDiff: Record<string, PropertyDiff>;
  /** A replacement must delete the old workload before creating the new one (same name). */
  deleteBeforeReplace: boolean;
}

/** What a running workload uses, as its kind measures it (`khutulun top`'s columns). */
export interface WorkloadUsage {
  /** CPU time it has used since it started, in seconds (user and system). */
  cpuSeconds: number;
  /** The memory it holds now, in bytes (its resident set, or the engine's figure). */
  memoryBytes: number;
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
 * Restart policy, readiness and health checks are the agent's, above every driver: the
 * driver reports every exit promptly (`on('exit')`), offers a fast `restart`, and runs
 * commands inside its workloads (`exec`) for command checks.
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

  /** The workload's current status, or `undefined` if the driver has none by that ref. */
  read(ref: WorkloadRef): Promise<WorkloadStatus | undefined>;

  /**
   * What changed from `from` to `to`, and whether each change can be applied in place
   * (`update`) or needs a replacement. Pure: it looks at the specs, not the workload.
   */
  diff(from: WorkloadSpec, to: WorkloadSpec): Promise<WorkloadDiff>;

  /**
   * Applies a spec whose `diff` has no `replaces`, in place. Kinds that replace everything
   * omit it; the agent then deletes and creates.
   */
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

  /**
   * The workload's output, from the kind's own logs (files, the engine's log driver). Ends
   * when the existing output is read, or, with `follow`, when `signal` aborts. Rejects with
   * `not-found` for an unknown ref.
   */
  logs(ref: WorkloadRef, options?: LogOptions): AsyncIterable<LogChunk>;

  /**
   * Runs a command inside a running workload (for `process`: in its environment, working
   * directory and user). Kinds that cannot run commands in their workloads omit it.
   * Rejects with `not-found`, or `exited` when the workload is not running.
   */
  exec?(ref: WorkloadRef, options: ExecOptions): Promise<ExecSession>;

  /**
   * What the workload uses now, read once when asked (CPU percent is the difference of two
   * readings, taken by whoever asks twice): `undefined` when it is not running. Rejects with
   * `not-found` for an unknown ref. Kinds that cannot measure omit it.
   */
  usage?(ref: WorkloadRef): Promise<WorkloadUsage | undefined>;

  /** Registers a listener; returns the function that removes it. Listeners must not throw. */
  on<E extends keyof WorkloadEvents>(event: E, listener: WorkloadListener<E>): () => void;

  /**
   * Releases the driver's own resources (its watches, which keep the process alive while
   * there are workloads to watch); leaves the workloads running.
   */
  close(): Promise<void>;
}
