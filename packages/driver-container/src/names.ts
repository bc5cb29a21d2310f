/** How the OCI kinds name and label what they make, so a sysadmin finds it with their tools. */
import type { WorkloadKey } from '@khutulun/driver';

/** The labels every container, pod and volume made by Khutulun carries. */
export const LABELS = {
  service: 'io.khutulun.service',
  workload: 'io.khutulun.workload',
  host: 'io.khutulun.host',
  /** On the one-off container of a workload's prestart step: its index. */
  prestart: 'io.khutulun.prestart',
} as const;

/**
 * `khutulun-<service>-<workload>`: the name of a workload's container (or pod), readable by a
 * sysadmin. It is not unique across services (service `web` with workload `db-x` and service
 * `web-db` with workload `x` get the same name), so the labels, not the name, say whose a
 * container is: a driver that finds the name taken by a container whose labels are not its
 * workload's on its host refuses the create (`already-exists`, naming the owner) and never
 * removes that container.
 */
export function containerName(key: WorkloadKey): string {
  return `khutulun-${key.service}-${key.name}`;
}

/** The labels of a workload's container on a host. */
export function workloadLabels(key: WorkloadKey, host: string): Record<string, string> {
  return { [LABELS.service]: key.service, [LABELS.workload]: key.name, [LABELS.host]: host };
}

/**
 * The labels of a named volume: it belongs to the service on this host, not to the workload
 * whose create made it, as workloads of one service (and their prestart steps) share it.
 */
export function volumeLabels(service: string, host: string): Record<string, string> {
  return { [LABELS.service]: service, [LABELS.host]: host };
}

/**
 * Whether a deleted container's named volume goes with it: Khutulun made it for this
 * service on this host, and the container was not a prestart step's (whose volume its
 * workload is about to use). The engines refuse to remove a volume another container
 * still uses (of any service, or made by hand), so the last user's delete removes it.
 */
export function removesVolumeWith(
  container: Record<string, string>,
  volume: Record<string, string> | undefined,
  host: string,
): boolean {
  if (container[LABELS.prestart] !== undefined) return false;
  return (
    volume !== undefined &&
    volume[LABELS.service] === container[LABELS.service] &&
    volume[LABELS.host] === host
  );
}

/** Whether a container's (or pod's) labels make it this workload's on this host. */
export function isWorkloadOf(
  labels: Record<string, string> | null | undefined,
  key: WorkloadKey,
  host: string,
): boolean {
  return (
    labels?.[LABELS.service] === key.service &&
    labels[LABELS.workload] === key.name &&
    labels[LABELS.host] === host
  );
}

/** Who a container (or pod) belongs to, by its labels, for an error message. */
export function ownerOf(labels: Record<string, string> | null | undefined): string {
  const service = labels?.[LABELS.service];
  const workload = labels?.[LABELS.workload];
  if (!service || !workload) return 'something Khutulun did not make';
  return `workload ${service}/${workload} on host ${labels[LABELS.host] ?? '(none)'}`;
}
