/** Which events the timeline shows: the service, host and type filters of the events page. */
import { type ApiEvent, eventService, eventWorkload } from '@khutulun/api';

/** The directory of cluster host events (`host-joined`, `host-lost`, ...): `khutulun/hosts`. */
const HOSTS_DIRECTORY = ['khutulun', 'hosts'] as const;

/**
 * The host an event is about: the host itself for a host event (its id is in
 * `khutulun/hosts`, named after the host, or below `khutulun/hosts/NAME`), else the host of
 * the workload it is about (`hostOf` maps `SERVICE/NAME` to a host); undefined for others.
 */
export function eventHost(
  event: Pick<ApiEvent, 'id'>,
  hostOf: ReadonlyMap<string, string>,
): string | undefined {
  const { directory, name } = event.id;
  if (directory[0] === HOSTS_DIRECTORY[0] && directory[1] === HOSTS_DIRECTORY[1]) {
    return directory[2] ?? name;
  }
  const service = eventService(event);
  const workload = eventWorkload(event);
  return service && workload ? hostOf.get(`${service}/${workload}`) : undefined;
}

/** The filters of the events page; an empty one lets every event pass. */
export interface EventFilter {
  service: string;
  host: string;
  /** Part of the type, any case. */
  type: string;
}

/** Whether an event passes the filters. */
export function eventMatches(
  // Any type: the agent may send types this client does not name.
  event: Pick<ApiEvent, 'id'> & { type: string },
  filter: EventFilter,
  hostOf: ReadonlyMap<string, string>,
): boolean {
  const type = filter.type.trim().toLowerCase();
  if (filter.service && eventService(event) !== filter.service) return false;
  if (type && !event.type.toLowerCase().includes(type)) return false;
  if (filter.host && eventHost(event, hostOf) !== filter.host) return false;
  return true;
}
