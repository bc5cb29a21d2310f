/** How the OCI kinds name and label what they make, so a sysadmin finds it with their tools. */
import type { WorkloadKey } from '@khutulun/driver';

/** The labels every container, pod and volume made by Khutulun carries. */
export const LABELS = {
  service: 'io.khutulun.service',
  workload: 'io.khutulun.workload',
  host: 'io.khutulun.host',
} as const;

/** `khutulun-<service>-<workload>`: the name of a workload's container (or pod). */
export function containerName(key: WorkloadKey): string {
  return `khutulun-${key.service}-${key.name}`;
}

/** The labels of a workload's container on a host. */
export function workloadLabels(key: WorkloadKey, host: string): Record<string, string> {
  return { [LABELS.service]: key.service, [LABELS.workload]: key.name, [LABELS.host]: host };
}
