/** PostgreSQL Floria store with LISTEN/NOTIFY change notification. */
export type { PostgresServer, PostgresServerOptions } from './postgres-server.js';
export { startPostgresServer, TEST_POSTGRES_URL_ENV } from './postgres-server.js';
export type { PostgresStoreOptions } from './postgres-store.js';
export { openPostgresStore } from './postgres-store.js';
