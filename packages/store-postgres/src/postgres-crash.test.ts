import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { anEdge, aVertex, id } from '@khutulun/store-conformance';
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

// The child deletes a vertex (cascading), then writes batch after batch in one transaction;
// it reports "writing" after 20 batches (10,000 rows sent to the server) and "committed" if it
// ever gets there.
const CHILD = `
import { openPostgresStore } from '@khutulun/store-postgres';
const store = await openPostgresStore(process.argv[1]);
await store.transaction(async (tx) => {
  await tx.delete({ kind: 'vertex', directory: [], name: 'v0' });
  for (let batch = 0; batch < 2000; batch++) {
    const vertexes = Array.from({ length: 500 }, (_, i) => ({
      id: { kind: 'vertex', directory: ['bulk'], name: 'b' + batch + '-' + i },
      metadata: {}, classes: [], properties: { n: { value: i } },
    }));
    await tx.putMany(vertexes);
    await tx.emit({ type: 'progress', id: vertexes[0].id, data: batch });
    if (batch === 20) process.stdout.write('writing\\n');
  }
});
process.stdout.write('committed\\n');
`;

describe('postgres crash safety', () => {
  it('leaves the store exactly as it was when the writer is SIGKILLed mid-transaction', async () => {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    const database = `crash_${process.pid}`;
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(server.url);
    url.pathname = `/${database}`;
    const store = await openPostgresStore(url.toString());
    await store.transaction(async (tx) => {
      for (let i = 0; i < 20; i++)
        await tx.put(aVertex(`v${i}`, { properties: { i: { value: i } } }));
      await tx.put(anEdge('e01', 'v0', 'v1'));
      await tx.put(aVertex('child', { parent: id('vertex', 'v0') }));
    });
    const before = { entities: await store.query({}), events: await store.changes(0) };

    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, url.toString()], {
      cwd: packageDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_c, s) => resolve(s)),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        if (stdout.includes('writing')) resolve();
      });
      child.on('exit', () => reject(new Error(`child exited before writing: ${stderr}`)));
    });
    // The server holds the child's open write transaction (it has a transaction id: it wrote).
    const open = await admin.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_xid IS NOT NULL',
      [database],
    );
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(stdout).not.toContain('committed');
    expect(open.rows[0].n).toBe(1);

    // The next write waits for the server to notice the dead client and roll it back.
    await store.put(aVertex('after'));
    const after = await store.query({});
    expect(after.filter((e) => e.id.name !== 'after')).toEqual(before.entities);
    const events = await store.changes(0);
    expect(events.slice(0, -1)).toEqual(before.events);
    expect(events.at(-1)).toMatchObject({ type: 'added', id: id('vertex', 'after') });
    await store.close();
    await admin.query(`DROP DATABASE ${database} WITH (FORCE)`);
    await admin.end();
  });
});
