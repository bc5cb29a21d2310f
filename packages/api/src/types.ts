/**
 * The agent's HTTP/JSON API (packages/agent/API.md), typed once. The agent, the CLI and both
 * dashboards use these shapes; none of them reaches into another's internals.
 *
 * Everything here is wire data: plain JSON, the same in Node and in a browser.
 */

/** A JSON value, as property values, inputs and outputs are. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** An entity's identity in the graph (Floria's `Id`, as it travels). */
export interface EntityId {
  kind: 'class' | 'vertex-template' | 'edge-template' | 'vertex' | 'edge' | 'plugin';
  directory: string[];
  name: string;
}

/** A property of a graph entity, as it travels (the expression, if any, is opaque here). */
export interface EntityProperty {
  value?: JsonValue;
  updater?: JsonValue;
  metadata?: Record<string, string>;
}

/** A vertex of a service's instance graph. */
export interface GraphVertex {
  id: EntityId & { kind: 'vertex' };
  metadata: Record<string, string>;
  classes: EntityId[];
  template?: EntityId;
  /** The containing vertex (a capability is nested in its node). */
  parent?: EntityId;
  properties: Record<string, EntityProperty>;
}

/** An edge of a service's instance graph: a relationship, with its own properties. */
export interface GraphEdge {
  id: EntityId & { kind: 'edge' };
  metadata: Record<string, string>;
  classes: EntityId[];
  template?: EntityId;
  source: EntityId;
  target: EntityId;
  properties: Record<string, EntityProperty>;
}

/** `GET /v1/graph/services/NAME`: the service's instance graph, for drawing. */
export interface ServiceGraph {
  vertexes: GraphVertex[];
  edges: GraphEdge[];
}

// ---------------------------------------------------------------------------------------
// Errors

/** A TOSCA compiler diagnostic, unchanged from the compiler. */
export interface Diagnostic {
  severity: 'error' | 'warning' | 'info';
  code: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  path?: string;
}

/** The error codes the agent answers with (API.md, "Errors"). */
export type ApiErrorCode =
  | 'bad-request'
  | 'unauthorized'
  | 'not-found'
  | 'service-not-found'
  | 'workload-not-found'
  | 'entity-not-found'
  | 'service-exists'
  | 'service-busy'
  | 'tosca-invalid'
  | 'dependency-cycle'
  | 'deploy-failed'
  | 'placement-failed'
  | 'delete-failed'
  | 'exec-unsupported'
  | 'internal';

/** The one error body of every route (and the data of a final SSE `error` event). */
export interface ErrorBody {
  error: {
    code: ApiErrorCode | (string & {});
    message: string;
    details?: Record<string, JsonValue>;
    diagnostics?: Diagnostic[];
    cause?: { code: string; message: string };
  };
}

// ---------------------------------------------------------------------------------------
// Health and hosts

/** `GET /v1/health`. */
export interface Health {
  ok: boolean;
  version: string;
  host: string;
  pid: number;
  stateDir: string;
  store: string;
  lastSeq: number;
  /** The agent's own memory, in MB. */
  memory: { rss: number; heapTotal: number; heapUsed: number; external: number };
}

/** A host's state in the cluster (`draining`: no new placements; `lost`: declared gone). */
export type HostState = 'up' | 'draining' | 'lost';

/** An item of `GET /v1/hosts`. */
export interface HostItem {
  name: string;
  /** A single host is always `up`; in a cluster, the registry's state of the host. */
  state: HostState;
  /** Whether this is the agent that answered. */
  self: boolean;
  agentPid?: number;
  address: string;
  /** How many workloads it runs. */
  workloads: number;
  startedAt?: string;
  /** The workload kinds its agent can run (`process`, `podman`, `docker`, ...). */
  kinds?: WorkloadKind[];
  /** The kinds it does not offer, and why (`dockerd is not running ...`). */
  unavailableKinds?: Record<string, string>;
  /**
   * Of its kinds, those that run commands in a workload (exec). In a cluster, as each host's
   * agent recorded them when it joined (absent for an agent that did not say).
   */
  execKinds?: WorkloadKind[];
  /** In a cluster: what the host has to offer for placement. */
  capacity?: { cpuMillicores?: number; memoryBytes?: number };
  /** In a cluster: the host's labels, for placement. */
  labels?: Record<string, string>;
  /** In a cluster: increases every time the host (re)joins or is declared lost. */
  epoch?: number;
}

/** A workload a drain moved: from the drained host to `to`. */
export interface MovedWorkload {
  service: string;
  workload: string;
  to: string;
}

/** `POST /v1/hosts/NAME/drain` and `.../undrain`: the host's new state, and what moved. */
export interface HostStateChange {
  name: string;
  state: HostState;
  epoch: number;
  /** The workloads the drain moved off (none for an undrain). */
  moved: MovedWorkload[];
}

// ---------------------------------------------------------------------------------------
// Services

/** A service's state. `degraded`: deployed, but a workload is not running. */
export type ServiceState = 'deploying' | 'running' | 'degraded' | 'deleting';

/** The service states, in the order a list shows them. */
export const SERVICE_STATES: readonly ServiceState[] = [
  'deploying',
  'running',
  'degraded',
  'deleting',
];

/** An item of `GET /v1/services`. */
export interface ServiceSummary {
  name: string;
  state: ServiceState;
  /** How many workloads it has, and how many are running. */
  workloads: number;
  ready: number;
  createdAt: string;
  source: string;
}

/** `GET /v1/services/NAME` (and the answer to a deploy that waited). */
export interface ServiceDetail extends Omit<ServiceSummary, 'workloads'> {
  inputs: Record<string, JsonValue>;
  outputs: Record<string, JsonValue>;
  workloads: WorkloadItem[];
  directory: string[];
}

/** Where a deploy's TOSCA comes from: a path the agent can read, or an uploaded file. */
export type DeploySource =
  | { path: string }
  | {
      /** The extension tells YAML (`.yaml`, `.yml`) from a CSAR (`.csar`, `.zip`, `.tar.gz`). */
      filename: string;
      /** Base64. */
      content: string;
    };

/** `POST /v1/services`. */
export interface DeployRequest {
  name?: string;
  inputs?: Record<string, JsonValue>;
  source: DeploySource;
  /** Default true: answer when the deploy has finished. */
  wait?: boolean;
}

/** `POST /v1/services` with `wait: false` (202), and `DELETE ...?wait=false`. */
export interface Accepted {
  service: string;
  state: 'deploying' | 'deleting';
  /** Follow the event stream from here. */
  sinceSeq: number;
}

/** `DELETE /v1/services/NAME` (waiting). */
export interface Deleted {
  service: string;
  deleted: true;
}

/** The steps of a deploy, in order. */
export type DeployStep =
  | 'compiled'
  | 'stored'
  | 'instantiated'
  | 'placed'
  | 'start'
  | 'ready'
  | 'rollback'
  | 'done'
  /** What a kind could not do as asked (e.g. limits without cgroup v2); `message` says what. */
  | 'warning';

/** A `progress` message of the deploy stream (`Accept: text/event-stream`). */
export interface DeployProgress {
  service: string;
  step: DeployStep | (string & {});
  workload?: string;
  state?: WorkloadState;
  pid?: number;
  port?: number;
  ports?: Record<string, number>;
  host?: string;
  message?: string;
}

/** The messages of the deploy stream: progress, then one result or one error. */
export type DeployStreamMessage =
  | { event: 'progress'; data: DeployProgress }
  | { event: 'result'; data: ServiceDetail }
  | { event: 'error'; data: ErrorBody };

// ---------------------------------------------------------------------------------------
// Workloads

/**
 * A workload's state. `unhealthy`: its liveness check failed (the agent stops it and applies
 * the restart policy); `lost`: its host was declared lost, or its driver no longer has it;
 * `fenced`: stopped by its own host, cut off from the cluster; `replaced`: a copy stopped on
 * a returning host, because another host runs the workload now. The agent does not write
 * `stopping` and `stopped` at present; clients should still show them.
 */
export type WorkloadState =
  | 'pending'
  | 'starting'
  | 'running'
  | 'unhealthy'
  | 'restarting'
  | 'exited'
  | 'failed'
  | 'stopping'
  | 'stopped'
  | 'lost'
  | 'fenced'
  | 'replaced';

/** Every workload state, in lifecycle order. */
export const WORKLOAD_STATES: readonly WorkloadState[] = [
  'pending',
  'starting',
  'running',
  'unhealthy',
  'restarting',
  'exited',
  'failed',
  'stopping',
  'stopped',
  'lost',
  'fenced',
  'replaced',
];

/** Whether a string is a workload state this API knows. */
export function isWorkloadState(value: unknown): value is WorkloadState {
  return typeof value === 'string' && (WORKLOAD_STATES as readonly string[]).includes(value);
}

/** How healthy a state is, for colours and sorting: a state any client can show the same way. */
export type StateTone = 'ok' | 'busy' | 'bad' | 'idle';

/** The tone of a workload or service state (unknown states are `idle`). */
export function stateTone(state: string): StateTone {
  switch (state) {
    case 'running':
    case 'up':
      return 'ok';
    case 'pending':
    case 'starting':
    case 'restarting':
    case 'stopping':
    case 'deploying':
    case 'deleting':
    case 'draining':
      return 'busy';
    case 'unhealthy':
    case 'exited':
    case 'failed':
    case 'lost':
    case 'fenced':
    case 'degraded':
      return 'bad';
    default:
      return 'idle';
  }
}

/** A workload kind: a plug-in of the agent. The list grows; clients show what they get. */
export type WorkloadKind = 'process' | 'podman' | 'docker' | (string & {});

/** An item of `GET /v1/workloads`. */
export interface WorkloadItem {
  service: string;
  /** The instance name: the node template's name plus `-N`. */
  name: string;
  host: string;
  kind: WorkloadKind;
  state: WorkloadState;
  restarts: number;
  pid?: number;
  /** Container kinds: the runtime's container ID and the image. */
  containerId?: string;
  image?: string;
  /** Reserved-port capability name → port. */
  ports?: Record<string, number>;
  startedAt?: string;
  /**
   * With `usage=true` (`ApiClient.workloads(service, { usage: true })`), for running
   * workloads: CPU in percent of one core since the agent's previous reading, memory in MiB.
   */
  cpuPercent?: number;
  memoryMb?: number;
}

/** A file a workload's driver made (log files, unit files, the command file, ...). */
export interface WorkloadFile {
  path: string;
  purpose: string;
}

/** How the agent addresses a workload through its kind's driver. */
export interface WorkloadRef {
  kind: WorkloadKind;
  key: { service: string; name: string };
  /** The driver's own identifier (`process`: `SERVICE/NAME`; containers: the container ID). */
  id: string;
}

/**
 * `GET /v1/workloads/SERVICE/NAME` (and the answer to a restart): the item plus what a
 * sysadmin needs to inspect it.
 */
export interface WorkloadDetail extends WorkloadItem {
  /** Absent until the workload was first started. */
  ref?: WorkloadRef;
  command: JsonValue[];
  commandLine: string;
  /** The exact commands it ran (driver and port networking). */
  commands: string[];
  workingDirectory: string | null;
  environment: Record<string, JsonValue> | null;
  user: string | null;
  restartPolicy: string | null;
  exitCode: number | null;
  signal: string | null;
  /** The workload's data root (`STATE/data/SERVICE/NAME`): its configuration files and data. */
  dataDirectory: string;
  files: WorkloadFile[];
  details: Record<string, JsonValue>;
  attributes: Record<string, JsonValue>;
  properties: Record<string, JsonValue>;
}

/** Which log stream `GET .../logs` sends. */
export type LogStream = 'stdout' | 'stderr' | 'both';

/** The query of `GET /v1/workloads/SERVICE/NAME/logs`. */
export interface LogsQuery {
  stream?: LogStream;
  tail?: number;
  follow?: boolean;
}

/** The query of the exec WebSocket (`GET /v1/workloads/SERVICE/NAME/exec`, upgraded). */
export interface ExecQuery {
  /** The command and its arguments (repeated `command=` parameters). */
  command: string[];
  tty?: boolean;
  cols?: number;
  rows?: number;
}

/**
 * The exec WebSocket's channels (the Kubernetes channel protocol): the first byte of every
 * binary frame.
 */
export const ExecChannel = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  /** Control JSON: {@link ExecServerControl} from the server, {@link ExecClientControl} to it. */
  control: 3,
} as const;

/** A control message the server sends (just before it closes, the exit). */
export type ExecServerControl = { type: 'exit'; code: number };

/** A control message the client sends. */
export type ExecClientControl = { type: 'resize'; cols: number; rows: number };

// ---------------------------------------------------------------------------------------
// TOSCA, plugins

/** `POST /v1/tosca/validate` and `/compile`. */
export interface ToscaRequest {
  source: DeploySource;
  inputs?: Record<string, JsonValue>;
}

/** `POST /v1/tosca/validate`: invalid TOSCA is a 200 with `ok: false`. */
export interface ValidateResult {
  ok: boolean;
  diagnostics: Diagnostic[];
}

/** `POST /v1/tosca/compile`: the compiled templates (Floria entities) when it compiled. */
export interface CompileResult extends ValidateResult {
  output: CompiledEntity[] | null;
}

/** A compiled entity, as far as clients read it. */
export interface CompiledEntity {
  id: EntityId;
  metadata: Record<string, string>;
  properties?: Record<string, EntityProperty>;
  [key: string]: unknown;
}

/** A plugin's kind. */
export type PluginKind = 'wasm' | 'executable' | 'typescript';

/** An item of `GET /v1/plugins` (and the answer to registering one). */
export interface PluginSummary {
  name: string;
  kind: PluginKind | null;
  digest: string | null;
  location: string | null;
  grants: string[];
}

/** `POST /v1/plugins`. */
export type PluginRequest = {
  name: string;
  kind: PluginKind;
  grants?: string[];
} & ({ path: string } | { content: string });
