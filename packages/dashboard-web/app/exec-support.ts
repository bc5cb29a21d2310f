/** Whether a workload's kind can run commands (exec), as its host reports it. */
import type { HostItem } from '@khutulun/api';

/**
 * A host item with the kinds that run commands. The agent reports `execKinds` for itself;
 * `HostItem` in @khutulun/api does not name the field yet.
 */
type HostWithExec = HostItem & { execKinds?: string[] };

/**
 * Whether workloads of `kind` on `host` can run commands: true or false when that host says
 * which of its kinds can (`execKinds`), undefined when it does not (another cluster member,
 * an older agent), so the caller offers the terminal and lets the agent answer.
 */
export function execSupported(
  hosts: readonly HostItem[],
  host: string | undefined,
  kind: string | undefined,
): boolean | undefined {
  if (!host || !kind) return undefined;
  const reported = (hosts.find((h) => h.name === host) as HostWithExec | undefined)?.execKinds;
  return reported ? reported.includes(kind) : undefined;
}
