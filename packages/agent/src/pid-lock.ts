import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { AgentStartError } from './agent-error.js';

/**
 * Claims a state directory for this process by creating its PID file exclusively. A PID file
 * left by a dead agent (kill -9) is taken over; one naming a live process refuses the start.
 * Returns the function that releases the claim.
 */
export function claimPidFile(path: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readPid(path) === process.pid) unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = readPid(path);
      if (pid !== undefined && pid !== process.pid && isAlive(pid)) {
        throw new AgentStartError({
          code: 'agent-running',
          status: 409,
          message: `another agent (PID ${pid}) is running on this state directory`,
          details: { pid, pidFile: path },
        });
      }
      try {
        unlinkSync(path);
      } catch {
        // Another starter removed it first; the next attempt decides.
      }
    }
  }
  throw new AgentStartError({
    code: 'agent-running',
    status: 409,
    message: `could not claim ${path}: another agent is starting on this state directory`,
  });
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
