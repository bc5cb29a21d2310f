import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectCommitsFromAnotherProcess } from '@khutulun/store-conformance';
import { afterAll, describe, it } from 'vitest';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'khutulun-sqlite-feed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sqlite change feed across processes', () => {
  it('delivers commits made by another process to a live subscriber, in order', async () => {
    const file = join(dir, 'feed.db');
    const store = await openSqliteStore(file);
    try {
      await expectCommitsFromAnotherProcess(store, {
        module: '@khutulun/store-sqlite',
        open: 'openSqliteStore',
        location: file,
      });
    } finally {
      await store.close();
    }
  });
});
