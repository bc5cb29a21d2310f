/** Whether a workload's kind can run commands (exec), as its host reports it. */
import type { HostItem } from '@khutulun/api';

/**
 * Whether workloads of `kind` on `host` can run commands: true or false when that host says
 * which of its kinds can (`execKinds`: every host of a cluster records them when its agent
 * joins), undefined when it does not (an older agent), so the caller offers the terminal and
 * lets the agent answer.
 */
export function execSupported(
  hosts: readonly HostItem[],
  host: string | undefined,
  kind: string | undefined,
): boolean | undefined {
  if (!host || !kind) return undefined;
  const reported = hosts.find((h) => h.name === host)?.execKinds;
  return reported ? reported.includes(kind) : undefined;
}
