import type { Store } from '@khutulun/floria';
import { describeStoreConformance } from '@khutulun/store-conformance';
import { afterAll, beforeAll } from 'vitest';
import { type PostgresServer, startPostgresServer } from './postgres-server.js';
import { openPostgresStore } from './postgres-store.js';

let server: PostgresServer;
const databases = new WeakMap<Store, { name: string; url: string }>();
let n = 0;

beforeAll(async () => {
  server = await startPostgresServer({ fast: true });
});

afterAll(async () => {
  await server?.stop();
});

describeStoreConformance('postgres', {
  async open() {
    const name = `conformance_${process.pid}_${++n}`;
    const url = await server.createDatabase(name);
    const store = await openPostgresStore(url);
    databases.set(store, { name, url });
    return store;
  },
  cleanup: (store) => server.dropDatabase(databases.get(store)!.name),
  openPeer: (store) => openPostgresStore(databases.get(store)!.url),
});
