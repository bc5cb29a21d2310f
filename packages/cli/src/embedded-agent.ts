/**
 * Starting an agent in the background when none answers at the state directory's socket,
 * so that `khutulun service deploy ...` works from a fresh clone with nothing else running.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentClient } from './agent-client.js';
import { CliError } from './cli-error.js';

/** The `khutulun` executable script, started with this Node for the background agent. */
export const KHUTULUN_BIN = fileURLToPath(new URL('../bin/khutulun.js', import.meta.url));

/** What {@link startEmbeddedAgent} needs. */
export interface EmbeddedAgentOptions {
  stateDir: string;
  socketPath: string;
  /** How long to wait for the socket to answer (default 60 s: a loaded machine is slow). */
  timeoutMs?: number;
  /**
   * How long to wait for another agent holding the directory (our agent then refuses to
   * start) to answer (default 10 s).
   */
  otherAgentGraceMs?: number;
  /** Told once the agent answers (the CLI says so on stderr). */
  onStarted?: (pid: number, logPath: string) => void;
}

/**
 * Starts `khutulun agent --state-dir DIR` detached (it outlives this command), its output
 * appended to `DIR/agent.log`, and resolves once its socket answers. Fails with the log's
 * last lines if the agent exits first or does not answer in time.
 */
export async function startEmbeddedAgent(options: EmbeddedAgentOptions): Promise<void> {
  const { stateDir, socketPath } = options;
  const logPath = join(stateDir, 'agent.log');
  let log: number;
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    log = openSync(logPath, 'a');
  } catch (cause) {
    throw new CliError(
      'failure',
      `cannot use ${stateDir} as the state directory: ${(cause as Error).message}`,
      { where: stateDir },
      { cause },
    );
  }
  const child = spawn(process.execPath, [KHUTULUN_BIN, 'agent', '--state-dir', stateDir], {
    detached: true,
    stdio: ['ignore', log, log],
    cwd: stateDir,
  });
  closeSync(log);
  child.unref();
  const client = new AgentClient({ kind: 'unix', socketPath });
  const pid = child.pid ?? 0;

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    let checking = false;
    let again = false;
    let backoff: NodeJS.Timeout | undefined;
    const watcher = watch(stateDir, () => void check());
    let deadline = setTimeout(
      () =>
        finish(
          failure(
            `the agent (pid ${pid}) did not answer within ${(options.timeoutMs ?? 60_000) / 1000} s`,
          ),
        ),
      options.timeoutMs ?? 60_000,
    );
    const finish = (error?: CliError) => {
      if (settled) return;
      settled = true;
      watcher.close();
      clearTimeout(deadline);
      clearTimeout(backoff);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve();
    };
    const failure = (what: string) =>
      new CliError('failure', `${what}; its log is ${logPath}`, {
        where: logPath,
        lines: logTail(logPath),
      });
    // The socket's appearance is the event we wait for; the retry timer only covers a
    // watcher that misses it (it backs off, and stops as soon as the agent answers).
    let delay = 50;
    const check = async (): Promise<void> => {
      if (settled) return;
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      try {
        if (existsSync(socketPath) && (await client.reachable())) return finish();
      } catch {
        // Not answering yet.
      } finally {
        checking = false;
      }
      if (again) {
        again = false;
        return check();
      }
      clearTimeout(backoff);
      backoff = setTimeout(() => void check(), delay);
      delay = Math.min(delay * 2, 1000);
    };
    // Exiting early is fine only if another agent (started concurrently) holds the directory.
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      void (async () => {
        if (await client.reachable().catch(() => false)) return finish();
        const other = otherAgent(stateDir, pid);
        if (other === undefined) {
          finish(failure(`the agent exited before answering (${signal ?? `exit code ${code}`})`));
          return;
        }
        // One started concurrently answers within moments; a hung one (or a stale PID file
        // naming an unrelated process) never does.
        clearTimeout(deadline);
        deadline = setTimeout(
          () =>
            finish(
              failure(
                `another process (pid ${other}) holds ${stateDir} (its agent.pid) but no agent answers on its socket`,
              ),
            ),
          options.otherAgentGraceMs ?? 10_000,
        );
      })();
    };
    child.on('exit', onExit);
    child.on('error', (error) =>
      finish(
        new CliError('failure', `cannot start the agent: ${error.message}`, {}, { cause: error }),
      ),
    );
    void check();
  });
  options.onStarted?.(pid, logPath);
}

/** The PID of another live process named by the state directory's `agent.pid`, if any. */
function otherAgent(stateDir: string, ourPid: number): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(stateDir, 'agent.pid'), 'utf8'), 10);
    if (!Number.isInteger(pid) || pid === ourPid) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

function logTail(path: string, lines = 15): string[] {
  try {
    return readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((l) => `  | ${l}`);
  } catch {
    return [];
  }
}
