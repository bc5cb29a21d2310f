/**
 * Where the local agent keeps its state and socket. The rules are the agent's
 * (`@khutulun/agent` `defaultStateDir`/`apiSocketPath`, checked equal by a test); they are
 * restated here so that a CLI command does not load the whole agent just to find its socket.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * `$KHUTULUN_STATE_DIR`, else `/var/lib/khutulun` for root, else
 * `$XDG_STATE_HOME/khutulun` (`~/.local/state/khutulun`).
 */
export function defaultStateDir(env: Record<string, string | undefined>): string {
  if (env.KHUTULUN_STATE_DIR) return env.KHUTULUN_STATE_DIR;
  if (process.getuid?.() === 0) return '/var/lib/khutulun';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'khutulun');
}

/** The agent's API socket in a state directory. */
export function apiSocketPath(stateDir: string): string {
  return join(stateDir, 'api.sock');
}
