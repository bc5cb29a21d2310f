/** The dashboard's pages, addressed by the URL's hash (so any prefix serves it). */
export type Route =
  | { page: 'overview' }
  | { page: 'service'; service: string }
  | { page: 'service-logs'; service: string }
  | { page: 'workload'; service: string; name: string; tab: WorkloadTab }
  | { page: 'events' }
  | { page: 'deploy' };

/** The tabs of a workload's page. */
export type WorkloadTab = 'details' | 'logs' | 'terminal';

/** The route of a hash such as `#/workloads/hello/server-1/logs`. */
export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'services' && parts[1]) {
    return parts[2] === 'logs'
      ? { page: 'service-logs', service: parts[1] }
      : { page: 'service', service: parts[1] };
  }
  if (parts[0] === 'workloads' && parts[1] && parts[2]) {
    const tab = parts[3] === 'logs' || parts[3] === 'terminal' ? parts[3] : 'details';
    return { page: 'workload', service: parts[1], name: parts[2], tab };
  }
  if (parts[0] === 'events') return { page: 'events' };
  if (parts[0] === 'deploy') return { page: 'deploy' };
  return { page: 'overview' };
}

/** The hash of a service's page. */
export function serviceHref(service: string): string {
  return `#/services/${encodeURIComponent(service)}`;
}

/** The hash of a service's merged logs. */
export function serviceLogsHref(service: string): string {
  return `${serviceHref(service)}/logs`;
}

/** The hash of a workload's page (and tab). */
export function workloadHref(service: string, name: string, tab: WorkloadTab = 'details'): string {
  const base = `#/workloads/${encodeURIComponent(service)}/${encodeURIComponent(name)}`;
  return tab === 'details' ? base : `${base}/${tab}`;
}

/** Goes to a page. */
export function navigate(hash: string): void {
  location.hash = hash;
}
