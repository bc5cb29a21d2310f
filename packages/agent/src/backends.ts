import type { NetworkDriver } from '@khutulun/driver';
import type { PluginEntity, Store } from '@khutulun/floria';
import { PortNetworkDriver } from '@khutulun/network-ports';
import { createPluginHost, type PluginHost } from '@khutulun/plugins';
import { openSqliteStore } from '@khutulun/store-sqlite';

/** Where registered plugins' entities live in the graph. */
export const PLUGIN_DIRECTORY: string[] = ['plugins'];

/**
 * Opens the store: PostgreSQL for a `postgres://` URL, else SQLite in that file. SQLite runs
 * with `synchronous = NORMAL`: a commit survives the agent being killed at any moment (the
 * crash safety the agent promises); only a power loss may drop the newest commits, which the
 * agent then re-learns from the driver's own state at start.
 */
export async function openStore(location: string): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(location)) {
    // Loaded only when asked for: the embedded default does not carry the PostgreSQL client.
    const { openPostgresStore } = await import('@khutulun/store-postgres');
    return openPostgresStore(location);
  }
  return openSqliteStore(location, { synchronous: 'NORMAL' });
}

/**
 * Port networking for this host: reservations in `DIR/ports.json`, exposure through
 * Firewalld when it runs, else nftables.
 */
export async function openNetwork(
  stateDir: string,
  range?: { from: number; to: number },
): Promise<NetworkDriver> {
  return new PortNetworkDriver({ stateDirectory: stateDir, ...(range ? { range } : {}) });
}

/**
 * The plugin host with the built-in Wasm plugin (`khutulun`: `place`, `restart_delay`) and
 * every plugin registered through the API (kept as entities in the store).
 */
export async function openPluginHost(store: Store, stateDir: string): Promise<PluginHost> {
  // One Wasm instance per plugin: the agent's calls are short, and each instance is a worker
  // thread with a heap of its own (an idle agent's memory matters more than call overlap).
  const host = createPluginHost({ builtins: true, baseDir: stateDir, maxInstances: 1 });
  for (const entity of await store.query({ kind: 'plugin', directory: PLUGIN_DIRECTORY })) {
    host.register(entity as PluginEntity);
  }
  return host;
}
