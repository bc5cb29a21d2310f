import type { Store } from '@khutulun/floria';
import {
  openPostgresStore,
  type PostgresServer,
  startPostgresServer,
} from '@khutulun/store-postgres';
import { afterAll, beforeAll } from 'vitest';
import { describeFloriaScenarios } from './floria-scenarios.js';

// A real PostgreSQL server of our own (or the one named by KHUTULUN_TEST_POSTGRES_URL), one
// fresh database per scenario; the server and its directory go away afterwards.
let server: PostgresServer;
let databases = 0;

beforeAll(async () => {
  server = await startPostgresServer({ fast: true });
});

afterAll(async () => {
  await server?.stop();
});

const urlOf = new WeakMap<Store, string>();

describeFloriaScenarios('postgres', {
  async open() {
    const url = await server.createDatabase(`floria_${process.pid}_${++databases}`);
    const store = await openPostgresStore(url);
    urlOf.set(store, url);
    return store;
  },
  reopen: (store) => openPostgresStore(urlOf.get(store) as string),
});
