/**
 * Readiness probes: a TCP port accepting, or a command exiting 0. Probing is inherently a
 * retry, so it is bounded: it runs only while `ready` is awaited, with a growing interval,
 * and stops at the timeout, on abort, or when the workload exits.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import type { ProcessPlan, ProcessReadiness } from './process-plan.js';

function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function tryCommand(readiness: { argv: string[] }, plan: ProcessPlan): Promise<boolean> {
  return new Promise((resolve) => {
    const [program, ...args] = readiness.argv;
    const child = spawn(program ?? '', args, {
      cwd: plan.workingDirectory,
      env: plan.environment,
      stdio: 'ignore',
      ...(plan.user ? { uid: plan.user.uid, gid: plan.user.gid } : {}),
    });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

/** Why a probe loop ended without success. */
export type ProbeOutcome = 'ready' | 'timeout' | 'cancelled';

/**
 * Probes until ready, the timeout, or `cancelled` settles (the workload exited, or the caller
 * aborted). The interval starts at 10 ms (TCP) or 50 ms (command) and doubles up to 500 ms.
 */
export async function probe(
  readiness: ProcessReadiness,
  plan: ProcessPlan,
  timeoutMs: number,
  cancelled: Promise<void>,
): Promise<ProbeOutcome> {
  let stop: ProbeOutcome | undefined;
  let wake: () => void = () => {};
  const timer = setTimeout(() => {
    stop ??= 'timeout';
    wake();
  }, timeoutMs);
  void cancelled.then(() => {
    stop ??= 'cancelled';
    wake();
  });
  let interval = readiness.kind === 'tcp' ? 10 : 50;
  try {
    while (!stop) {
      const ok =
        readiness.kind === 'tcp'
          ? await tryConnect(readiness.host, readiness.port)
          : await tryCommand(readiness, plan);
      if (ok && !stop) return 'ready';
      if (stop) break;
      await new Promise<void>((resolve) => {
        const pause = setTimeout(resolve, interval);
        wake = () => {
          clearTimeout(pause);
          resolve();
        };
      });
      interval = Math.min(interval * 2, 500);
    }
    return stop ?? 'timeout';
  } finally {
    clearTimeout(timer);
  }
}
