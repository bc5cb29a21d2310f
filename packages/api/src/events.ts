/**
 * The events of `GET /v1/events` and `GET /v1/events/stream`: the store's own events and the
 * agent's custom ones, as one union discriminated by `type`.
 */
import type { EntityId, JsonValue } from './types.js';

interface EventBase<T extends string, D> {
  /** Assigned by the store, strictly increasing: resume a stream from here. */
  seq: number;
  type: T;
  /** The entity the event is about. */
  id: EntityId;
  /** ISO 8601. */
  time: string;
  data?: D;
}

/** A store event: an entity was added, updated or removed. */
export type EntityEvent =
  | EventBase<'added', JsonValue>
  | EventBase<'updated', JsonValue>
  | EventBase<'removed', { entity?: JsonValue }>;

/** A property of an entity changed (an attribute such as `state` or `pid`, too). */
export type PropertyChangedEvent = EventBase<
  'property-changed',
  { property: string; old?: JsonValue; new?: JsonValue }
>;

/** A service's lifecycle (on the service's record, `khutulun/services/NAME`). */
export type ServiceEvent =
  | EventBase<'service-deploying', JsonValue>
  | EventBase<'service-deployed', JsonValue>
  | EventBase<'service-deploy-failed', { message: string }>
  | EventBase<'service-deleting', JsonValue>
  /** `message`: why, when the agent finished a delete (or a rollback) another agent began. */
  | EventBase<'service-deleted', { message?: string }>
  /** In a cluster: the agent `by` took over the services of the lost host `from`. */
  | EventBase<'service-taken-over', { from: string; by: string }>;

/** How a run of a workload ended (`reason: 'liveness'`: the agent stopped it, unhealthy). */
export interface WorkloadExit {
  code: number | null;
  signal: string | null;
  pid: number | null;
  reason?: string;
}

/** A workload's lifecycle (on the workload's vertex). */
export type WorkloadEvent =
  | EventBase<'workload-started', { pid: number | null }>
  | EventBase<'workload-ready', JsonValue>
  | EventBase<'workload-exited', WorkloadExit>
  /** `requested`: by `workload restart`; `fenced`: a fenced workload its host runs again. */
  | EventBase<'workload-restarted', { pid: number | null; requested?: true; fenced?: true }>
  | EventBase<'workload-restarting', { delayMs: number; restarts: number }>
  | EventBase<'workload-restart-failed', WorkloadExit & { message: string }>
  | EventBase<'workload-unhealthy', { failures: number }>
  /** `host`: its host was declared lost; `message`: its driver no longer has it. */
  | EventBase<'workload-lost', { host?: string; message?: string }>
  /** Started on another host after its host was lost. */
  | EventBase<'workload-replaced', { lostHost: string | null; replacement: number | null }>
  /**
   * The host chosen for a lost workload's replacement (`host`) could not start it (`code`,
   * `message`: the start failed there, it did not answer, or it was declared lost): what the
   * attempt left there is released, and the replacement placed again without that host (one
   * declared lost leaves it to the replacement of its own loss).
   */
  | EventBase<'workload-replace-attempt-failed', { host: string; code: string; message: string }>
  /**
   * A lost workload could not be placed on another host, or no host could start it; it stays
   * `lost`. `reasons`: why each host did not take it, by host name (those that failed to
   * start it among them).
   */
  | EventBase<'workload-replace-failed', { message: string; reasons?: Record<string, string> }>
  /** Moved off a draining host (`from`). */
  | EventBase<'workload-moved', { from: string | null }>
  /** Started again with the new address of a workload it connects to, which moved. */
  | EventBase<'workload-rewired', JsonValue>
  /** Stopped by its own host, cut off from the cluster (`by: 'fence-watchdog'`: after the agent died). */
  | EventBase<'workload-fenced', { by?: string }>
  /** A returning host's copy, stopped: another host runs the workload now. */
  | EventBase<'workload-replaced-elsewhere', JsonValue>;

/** A host joined the cluster (or came back after it was declared lost). */
export interface HostJoin {
  host: string;
  epoch: number;
  address: string;
}

/**
 * A host's membership in a cluster (on `khutulun/hosts/NAME`): recorded once, by the host
 * itself for a join or a return, and by the agent that declared it lost for a loss
 * (`replacements`: how many of its workloads are to be replaced). `host-draining` and
 * `host-undrained` are the cluster's too; the agent does not record them in this stream at
 * present (the host's `state` in `GET /v1/hosts` shows them).
 */
export type HostEvent =
  | EventBase<'host-joined', HostJoin>
  | EventBase<'host-returned', HostJoin>
  | EventBase<
      'host-lost',
      { host: string; epoch: number; declaredBy: string; replacements: number }
    >
  | EventBase<'host-draining', { host: string; epoch: number }>
  | EventBase<'host-undrained', { host: string; epoch: number }>;

/** A user event handler failed (on the workload's vertex). */
export type HandlerFailedEvent = EventBase<
  'handler-failed',
  { event: string; handler: string; message: string }
>;

/**
 * Any event the agent sends. The agent may add types (a plugin may emit its own): a client
 * handles the ones it knows and shows the others as they are.
 */
export type ApiEvent =
  | EntityEvent
  | PropertyChangedEvent
  | ServiceEvent
  | WorkloadEvent
  | HostEvent
  | HandlerFailedEvent;

/** Every event type this API names. */
export type ApiEventType = ApiEvent['type'];

/** The directory of the records of deployed services (`service-*` events are about these). */
export const SERVICE_RECORDS_DIRECTORY = ['khutulun', 'services'] as const;

/** The directory host events are recorded under (`host-*` events are about `khutulun/hosts/NAME`). */
export const HOST_RECORDS_DIRECTORY = ['khutulun', 'hosts'] as const;

/**
 * The service an event is about: the service of its directory (`services/NAME/...`), or the
 * record's name for a service record (`khutulun/services`, name NAME).
 */
export function eventService(event: Pick<ApiEvent, 'id'>): string | undefined {
  const { directory, name } = event.id;
  if (directory[0] === 'services' && directory[1]) return directory[1];
  if (directory[0] === 'khutulun' && directory[1] === 'services') return name;
  return undefined;
}

/**
 * The workload (instance vertex name) an event is about, if it is about a workload: a node
 * vertex is named `template-N`; a nested capability (`server/capabilities/port-1`) is not.
 */
export function eventWorkload(event: Pick<ApiEvent, 'id'>): string | undefined {
  const { kind, directory, name } = event.id;
  if (kind !== 'vertex' || directory[0] !== 'services') return undefined;
  return /^[^/]+-\d+$/.test(name) ? name : undefined;
}

/** The host an event is about: the host of a `host-*` event (`khutulun/hosts/NAME`). */
export function eventHost(event: Pick<ApiEvent, 'id'>): string | undefined {
  const { directory, name } = event.id;
  return directory.length === 2 &&
    directory[0] === HOST_RECORDS_DIRECTORY[0] &&
    directory[1] === HOST_RECORDS_DIRECTORY[1]
    ? name
    : undefined;
}

/**
 * Parses one event's JSON (an SSE message's `data`). Throws when it is not JSON or not an
 * event (a `seq`, a `type`, an `id` and a `time`); an event of a type this API does not name
 * is returned as it is.
 */
export function parseEvent(data: string): ApiEvent {
  const event = JSON.parse(data) as Partial<Record<keyof ApiEvent, unknown>> | null;
  const id = (event?.id ?? undefined) as Partial<Record<string, unknown>> | undefined;
  if (
    typeof event?.seq !== 'number' ||
    typeof event.type !== 'string' ||
    typeof event.time !== 'string' ||
    typeof id?.kind !== 'string' ||
    typeof id.name !== 'string' ||
    !Array.isArray(id.directory)
  ) {
    throw new SyntaxError(`not an event: ${data.slice(0, 200)}`);
  }
  return event as ApiEvent;
}
