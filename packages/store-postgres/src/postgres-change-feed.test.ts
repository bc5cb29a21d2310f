import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aVertex, collect } from '@khutulun/store-conformance';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgresServer } from './postgres-server.js';
import { openPostgresStore } from './postgres-store.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgresServer({ fast: true });
});
afterAll(async () => {
  await server?.stop();
});

// Another process writes three transactions to the same database, one after the other.
const CHILD = `
import { openPostgresStore } from '@khutulun/store-postgres';
const store = await openPostgresStore(process.argv[1]);
for (const name of ['p1', 'p2', 'p3']) {
  await store.put({ id: { kind: 'vertex', directory: [], name }, metadata: {}, classes: [], properties: {} });
}
await store.close();
`;

describe('postgres change feed across processes', () => {
  it('delivers commits made by another process to a live subscriber (LISTEN/NOTIFY), in order', async () => {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    const database = `feed_${process.pid}`;
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const url = new URL(server.url);
    url.pathname = `/${database}`;
    const store = await openPostgresStore(url.toString());
    await store.put(aVertex('mine'));
    const sub = collect(store, 0);
    await sub.until(1);
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, url.toString()], {
      cwd: packageDir,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    // Nothing is written through `store` meanwhile: only the notifications can wake it.
    const events = await sub.until(4);
    expect(events.map((e) => `${e.type} ${e.id.name}`)).toEqual([
      'added mine',
      'added p1',
      'added p2',
      'added p3',
    ]);
    sub.stop();
    await store.close();
  });
});
