import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aVertex, id, killWriterMidTransaction } from '@khutulun/store-conformance';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'khutulun-sqlite-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sqlite crash safety', () => {
  it('leaves the store exactly as it was when the writer is SIGKILLed mid-transaction', async () => {
    const file = join(dir, 'crash.db');
    const store = await openSqliteStore(file);
    let uncommittedBytes = 0;
    const before = await killWriterMidTransaction(
      store,
      { module: '@khutulun/store-sqlite', open: 'openSqliteStore', location: file },
      {
        // Uncommitted pages have spilled from SQLite's page cache into the write-ahead log.
        spilled: "statSync(location + '-wal').size > 0",
        beforeKill: async () => {
          uncommittedBytes = statSync(`${file}-wal`).size;
        },
      },
    );
    await store.close();
    expect(uncommittedBytes).toBeGreaterThan(0);

    const db = new Database(file);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    const reopened = await openSqliteStore(file);
    expect(await reopened.query({})).toEqual(before.entities);
    expect(await reopened.changes(0)).toEqual(before.events);
    expect(await reopened.lastSeq()).toBe(before.events.at(-1)!.seq);
    // And it is writable again: the dead writer's lock is gone.
    await reopened.put(aVertex('after'));
    expect(await reopened.get(id('vertex', 'after'))).toBeDefined();
    await reopened.close();
  });
});
