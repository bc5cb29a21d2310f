import { expectCommitsFromAnotherProcess } from '@khutulun/store-conformance';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type PostgresServer, startPostgresServer } from './postgres-server.js';
import { openPostgresStore } from './postgres-store.js';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgresServer({ fast: true });
});
afterAll(async () => {
  await server?.stop();
});

describe('postgres change feed across processes', () => {
  it('delivers commits made by another process to a live subscriber (LISTEN/NOTIFY), in order', async () => {
    const url = await server.createDatabase(`feed_${process.pid}`);
    const store = await openPostgresStore(url);
    try {
      await expectCommitsFromAnotherProcess(store, {
        module: '@khutulun/store-postgres',
        open: 'openPostgresStore',
        location: url,
      });
    } finally {
      await store.close();
    }
  });
});
