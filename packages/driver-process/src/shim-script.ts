/**
 * The per-workload supervisor ("shim"): a few lines of /bin/sh that outlive the agent. It
 * starts the workload in a session of its own, records its PID, waits for it and atomically
 * records its exit status, so the driver learns of exits through inotify, also after an agent
 * restart when the workload is no longer the agent's child. Costs one `sh` (~1 MB) per workload.
 *
 * `pid` and `exit` are each written by one `echo`, a single write(2) of a few bytes ending in a
 * newline: a reader sees the file empty or complete, never partial, without the cost of a
 * `mv` (an exec) per write.
 */
import { quote, quoteCommand } from '@khutulun/driver';
import type { ProcessPlan } from './process-plan.js';

/** The shim's own interpreter. */
export const SHIM_SHELL = '/bin/sh';

/**
 * The exact command line that starts the workload inside the shim: `setsid` gives it its own
 * session and process group (so stop signals reach all of it and none of the shim), `env
 * --default-signal` undoes the SIGINT/SIGQUIT that sh ignores for background jobs, and
 * `setpriv` drops to the workload's user.
 */
export function workloadCommand(plan: ProcessPlan): string[] {
  return ['setsid', 'env', '--default-signal', '--', ...asUser(plan), ...plan.argv];
}

/**
 * The `setpriv` prefix that runs a command as the plan's user, with its groups (empty when the
 * plan has no user): what the workload and commands run inside it (`exec`) both use.
 */
export function asUser(plan: ProcessPlan): string[] {
  const user = plan.user;
  if (!user) return [];
  return [
    'setpriv',
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    user.name === String(user.uid) ? '--clear-groups' : '--init-groups',
    '--',
  ];
}

/** The `env` file: one shell-quoted `NAME=value` per line, sourced by the shim. */
export function renderEnvironment(environment: Record<string, string>): string {
  return Object.entries(environment)
    .map(([name, value]) => `${name}=${quote(value)}\n`)
    .join('');
}

/** The shim script for a workload whose directory is `directory`. */
export function renderShim(
  key: { service: string; name: string },
  directory: string,
  plan: ProcessPlan,
  cgroup?: string,
): string {
  // The subshell joins the cgroup (`0`: the writing process itself) before it execs the
  // workload, so the workload and everything it starts are in it from the start.
  const join = cgroup
    ? `{ echo 0 >${quote(`${cgroup}/cgroup.procs`)} || { echo 'khutulun: cannot join the cgroup ${cgroup.replace(/'/g, '')}' >&2; exit 125; }; } && `
    : '';
  return `#!/bin/sh
# Khutulun process shim for workload ${key.name} of service ${key.service} (generated).
# Starts the workload in a session of its own, records its PID in ./pid, waits for it and
# records its exit status in ./exit (128+N: killed by signal N). Logs are in ./logs.
cd ${quote(directory)} || exit 1
set -a
. ./env
set +a
(${join}cd ${quote(plan.workingDirectory)} && exec ${quoteCommand(workloadCommand(plan))}) </dev/null >>logs/stdout.log 2>>logs/stderr.log &
khutulun_pid=$!
echo "$khutulun_pid" >pid
wait "$khutulun_pid"
echo "$?" >exit
`;
}
