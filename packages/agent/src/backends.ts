import type { NetworkDriver } from '@khutulun/driver';
import type { PluginEntity, Store } from '@khutulun/floria';
import { createPluginHost, type PluginHost } from '@khutulun/plugins';
import { openSqliteStore } from '@khutulun/store-sqlite';
import { AgentStartError } from './agent-error.js';
import { PortLedger } from './port-ledger.js';

/** Where registered plugins' entities live in the graph. */
export const PLUGIN_DIRECTORY: string[] = ['plugins'];

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

/**
 * The plugin host with the built-in Wasm plugin (`khutulun`: `place`, `restart_delay`) and
 * every plugin registered through the API (kept as entities in the store).
 */
export async function openPluginHost(store: Store, stateDir: string): Promise<PluginHost> {
  const host = createPluginHost({ builtins: true, baseDir: stateDir });
  for (const entity of await store.query({ kind: 'plugin', directory: PLUGIN_DIRECTORY })) {
    host.register(entity as PluginEntity);
  }
  return host;
}
