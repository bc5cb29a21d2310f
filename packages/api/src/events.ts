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

/** A service's lifecycle (on the service's record or vertex). */
export type ServiceEvent =
  | EventBase<'service-deploying', JsonValue>
  | EventBase<'service-deployed', JsonValue>
  | EventBase<'service-deploy-failed', { message: string }>
  | EventBase<'service-deleting', JsonValue>
  | EventBase<'service-deleted', JsonValue>;

/** A workload's lifecycle (on the workload's vertex). */
export type WorkloadEvent =
  | EventBase<'workload-started', { pid?: number; containerId?: string }>
  | EventBase<'workload-ready', JsonValue>
  | EventBase<'workload-exited', { code: number | null; signal: string | null; pid?: number }>
  | EventBase<'workload-restarted', { pid?: number; containerId?: string }>
  | EventBase<'workload-restarting', { delayMs: number; restarts: number }>
  | EventBase<'workload-restart-failed', JsonValue>
  | EventBase<'workload-lost', JsonValue>;

/** A user event handler failed. */
export type HandlerFailedEvent = EventBase<
  'handler-failed',
  { event: string; handler: string; message: string }
>;

/**
 * Any event the agent sends. The agent may add types: a client handles the ones it knows
 * and shows the others as they are (the `type` is then still a string).
 */
export type ApiEvent =
  | EntityEvent
  | PropertyChangedEvent
  | ServiceEvent
  | WorkloadEvent
  | HandlerFailedEvent;

/** Every event type this API names. */
export type ApiEventType = ApiEvent['type'];

/** The directory of the records of deployed services (`service-*` events are about these). */
export const SERVICE_RECORDS_DIRECTORY = ['khutulun', 'services'] as const;

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

/** Parses one event's JSON (an SSE message's `data`). */
export function parseEvent(data: string): ApiEvent {
  return JSON.parse(data) as ApiEvent;
}
