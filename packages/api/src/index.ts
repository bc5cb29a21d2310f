/**
 * `@khutulun/api`: the agent's HTTP/JSON API typed once (requests, responses, the event and
 * state unions) and a small fetch client, for the CLI and both dashboards. Browser-safe; the
 * Node-only Unix-socket transport is in `@khutulun/api/node`.
 */
export {
  ApiClient,
  type ApiClientOptions,
  ApiError,
  type FollowOptions,
  isApiError,
} from './api-client.js';
export {
  type ApiEvent,
  type ApiEventType,
  type EntityEvent,
  eventHost,
  eventService,
  eventWorkload,
  type HandlerFailedEvent,
  HOST_RECORDS_DIRECTORY,
  type HostEvent,
  type HostJoin,
  type PropertyChangedEvent,
  parseEvent,
  SERVICE_RECORDS_DIRECTORY,
  type ServiceEvent,
  type WorkloadEvent,
  type WorkloadExit,
} from './events.js';
export {
  controlFrame,
  decodeExecFrame,
  type ExecFrame,
  outputFrame,
  stdinFrame,
} from './exec-frames.js';
export { type LiveState, LiveView, workloadKey } from './live-view.js';
export { type ServerSentEvent, ServerSentEventParser } from './server-sent-events.js';
export { formatDiagnostic, type InputDefinition, inputDefinitions } from './tosca-inputs.js';
export * from './types.js';
