/**
 * `exec` for processes: a command run beside the workload, in its environment, working
 * directory and user (and its cgroup, when it has one). Processes have no terminal, so a TTY
 * is refused rather than silently not given.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import {
  DriverError,
  type ExecOptions,
  type ExecSession,
  type WorkloadKey,
} from '@khutulun/driver';
import type { ProcessPlan } from './process-plan.js';
import { asUser } from './shim-script.js';

const KIND = 'process';

/** Problems with exec options, as data (empty: valid). */
function execProblems(options: ExecOptions): { path: string[]; message: string }[] {
  const problems: { path: string[]; message: string }[] = [];
  const { command, environment } = options;
  if (
    !Array.isArray(command) ||
    command.length === 0 ||
    !command.every((word) => typeof word === 'string') ||
    command[0] === ''
  ) {
    problems.push({ path: ['command'], message: 'must be a non-empty list of strings' });
  }
  if (options.tty) {
    problems.push({
      path: ['tty'],
      message: 'process workloads have no terminal: run the command without a TTY',
    });
  }
  for (const [name, value] of Object.entries(environment ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || typeof value !== 'string') {
      problems.push({ path: ['environment', name], message: 'must be a valid name and a string' });
    }
  }
  return problems;
}

/**
 * Runs `options.command` for the workload `key` planned by `plan`, in a process group of its
 * own (so `kill` ends all of it). `joinCgroup`, when given, is the workload's `cgroup.procs`:
 * the command joins it before it execs, as the workload did. Rejects `invalid-spec` for bad
 * options (a TTY included), `start-failed` when the program cannot be started.
 */
export function execInWorkload(
  key: WorkloadKey,
  plan: ProcessPlan,
  options: ExecOptions,
  joinCgroup?: string,
): Promise<ExecSession> {
  const problems = execProblems(options);
  if (problems.length > 0) {
    const listed = problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; ');
    return Promise.reject(
      new DriverError(`cannot exec in ${key.service}/${key.name}: ${listed}`, {
        code: 'invalid-spec',
        driver: KIND,
        workload: key,
        problems,
      }),
    );
  }
  // `sh -c 'echo 0 >cgroup.procs && exec "$@"'`: the command is in the cgroup before it runs.
  const join = joinCgroup
    ? ['/bin/sh', '-c', 'echo 0 >"$0" && exec "$@"', joinCgroup]
    : ([] as string[]);
  const argv = [...join, ...asUser(plan), ...options.command];
  const [program, ...args] = argv as [string, ...string[]];
  const child = spawn(program, args, {
    cwd: plan.workingDirectory,
    env: { ...plan.environment, ...options.environment },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exit = new Promise<{ code: number }>((resolve) => {
    // 'close', not 'exit': the output is complete once the promise resolves.
    child.once('close', (code, signal) => {
      const number = signal ? constants.signals[signal] : undefined;
      resolve({ code: code ?? 128 + (number ?? 0) });
    });
  });
  return new Promise((resolve, reject) => {
    child.once('error', (cause) => {
      reject(
        new DriverError(
          `cannot run ${JSON.stringify(options.command[0])} in ${key.service}/${key.name}: ${cause.message}`,
          { code: 'start-failed', driver: KIND, workload: key, cause },
        ),
      );
    });
    child.once('spawn', () => {
      resolve({
        stdin: child.stdin ?? undefined,
        stdout: child.stdout!,
        stderr: child.stderr!,
        exit,
        resize() {},
        kill() {
          if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
            return;
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {}
        },
      });
    });
  });
}
