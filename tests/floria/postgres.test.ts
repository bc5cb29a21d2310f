import type { Store } from '@khutulun/floria';
import {
  openPostgresStore,
  type PostgresServer,
  startPostgresServer,
} from '@khutulun/store-postgres';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { describeFloriaScenarios } from './floria-scenarios.js';

// A real PostgreSQL server of our own (or the one named by KHUTULUN_TEST_POSTGRES_URL), one
// fresh database per scenario; the server and its directory go away afterwards.
let server: PostgresServer;
let admin: pg.Client;
let databases = 0;

beforeAll(async () => {
  server = await startPostgresServer({ fast: true });
  admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

const urlOf = new WeakMap<Store, string>();

describeFloriaScenarios('postgres', {
  async open() {
    const name = `floria_${process.pid}_${++databases}`;
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    const store = await openPostgresStore(url.toString());
    urlOf.set(store, url.toString());
    return store;
  },
  reopen: (store) => openPostgresStore(urlOf.get(store) as string),
});
