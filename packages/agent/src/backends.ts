import type { NetworkDriver } from '@khutulun/driver';
import { type Dispatcher, FunctionRegistry, type Store } from '@khutulun/floria';
import { openSqliteStore } from '@khutulun/store-sqlite';
import { AgentStartError } from './agent-error.js';
import { POLICY_PLUGIN } from './host-policies.js';
import { PortLedger } from './port-ledger.js';

/** Opens the store: PostgreSQL for a `postgres://` URL, else SQLite in that file. */
export async function openStore(location: string): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(location)) {
    throw new AgentStartError({
      code: 'store-unavailable',
      status: 500,
      message: 'the PostgreSQL store is not available in this build',
    });
  }
  return openSqliteStore(location);
}

/** Opens port networking for this host. */
export async function openNetwork(stateDir: string): Promise<NetworkDriver> {
  return new PortLedger(stateDir);
}

/** The plugin dispatchers the agent routes to, by plugin name. */
export interface PluginHost {
  routes: Record<string, Dispatcher>;
  fallback?: Dispatcher;
  close(): Promise<void>;
}

const MAX_RESTART_DELAY_MS = 30_000;

/**
 * The plugin host: the `khutulun` policy functions (`place`: this host; `restart_delay`:
 * 0 for the first restart, then 100 ms doubling up to 30 s).
 */
export async function openPluginHost(_store: Store): Promise<PluginHost> {
  const policies = new FunctionRegistry();
  policies.register(`${POLICY_PLUGIN}:place`, (args) => {
    const input = args[0] as { hosts?: string[] } | undefined;
    return input?.hosts?.[0] ?? null;
  });
  policies.register(`${POLICY_PLUGIN}:restart_delay`, (args) => {
    const restarts = Number((args[0] as { restarts?: number } | undefined)?.restarts ?? 0);
    return restarts <= 0 ? 0 : Math.min(100 * 2 ** (restarts - 1), MAX_RESTART_DELAY_MS);
  });
  return { routes: { [POLICY_PLUGIN]: policies }, close: async () => {} };
}
