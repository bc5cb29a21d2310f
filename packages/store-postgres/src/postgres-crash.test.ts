import { aVertex, id, killWriterMidTransaction } from '@khutulun/store-conformance';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgresServer } from './postgres-server.js';
import { openPostgresStore } from './postgres-store.js';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgresServer({ fast: true });
});
afterAll(async () => {
  await server?.stop();
});

describe('postgres crash safety', () => {
  it('leaves the store exactly as it was when the writer is SIGKILLed mid-transaction', async () => {
    const database = `crash_${process.pid}`;
    const url = await server.createDatabase(database);
    const store = await openPostgresStore(url);
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    let openWriteTransactions = 0;
    const before = await killWriterMidTransaction(
      store,
      { module: '@khutulun/store-postgres', open: 'openPostgresStore', location: url },
      {
        // 20 batches: 10,000 rows sent to the server.
        spilled: 'batch === 20',
        // The server holds the child's open write transaction (it has a transaction id: it wrote).
        beforeKill: async () => {
          const open = await admin.query(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_xid IS NOT NULL',
            [database],
          );
          openWriteTransactions = open.rows[0].n;
        },
      },
    );
    await admin.end();
    expect(openWriteTransactions).toBe(1);

    // The next write waits for the server to notice the dead client and roll it back.
    await store.put(aVertex('after'));
    const after = await store.query({});
    expect(after.filter((e) => e.id.name !== 'after')).toEqual(before.entities);
    const events = await store.changes(0);
    expect(events.slice(0, -1)).toEqual(before.events);
    expect(events.at(-1)).toMatchObject({ type: 'added', id: id('vertex', 'after') });
    await store.close();
    await server.dropDatabase(database);
  });
});
