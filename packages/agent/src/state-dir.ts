import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The agent's default state directory: `$KHUTULUN_STATE_DIR`, else `/var/lib/khutulun` for
 * root, else `$XDG_STATE_HOME/khutulun` (`~/.local/state/khutulun`). The CLI uses the same
 * function, so both agree without configuration.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KHUTULUN_STATE_DIR) return env.KHUTULUN_STATE_DIR;
  if (process.getuid?.() === 0) return '/var/lib/khutulun';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'khutulun');
}

/** The API's Unix socket inside a state directory. */
export function apiSocketPath(stateDir: string): string {
  return join(stateDir, 'api.sock');
}

/** The file holding the running agent's PID inside a state directory. */
export function agentPidPath(stateDir: string): string {
  return join(stateDir, 'agent.pid');
}

/** Where uploaded service files and CSARs are kept while their service exists. */
export function uploadsPath(stateDir: string): string {
  return join(stateDir, 'uploads');
}
