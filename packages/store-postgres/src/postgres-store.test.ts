import type { Store } from '@khutulun/floria';
import { describeStoreConformance } from '@khutulun/store-conformance';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { type PostgresServer, startPostgresServer } from './postgres-server.js';
import { openPostgresStore } from './postgres-store.js';

let server: PostgresServer;
let admin: pg.Client;
const databases = new WeakMap<Store, { name: string; url: string }>();
let n = 0;

beforeAll(async () => {
  server = await startPostgresServer({ fast: true });
  admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await server?.stop();
});

function urlOf(database: string): string {
  const url = new URL(server.url);
  url.pathname = `/${database}`;
  return url.toString();
}

describeStoreConformance('postgres', {
  async open() {
    const name = `conformance_${process.pid}_${++n}`;
    await admin.query(`CREATE DATABASE ${name}`);
    const url = urlOf(name);
    const store = await openPostgresStore(url);
    databases.set(store, { name, url });
    return store;
  },
  async cleanup(store) {
    await admin.query(`DROP DATABASE ${databases.get(store)!.name} WITH (FORCE)`);
  },
  openPeer: (store) => openPostgresStore(databases.get(store)!.url),
});
