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

/** `khutulun-<service>-<workload>`: the name of a workload's container (or pod). */
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
