import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@khutulun/floria';
import { describeStoreConformance } from '@khutulun/store-conformance';
import { afterAll } from 'vitest';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'khutulun-sqlite-'));
const files = new WeakMap<Store, string>();
let n = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStoreConformance('sqlite', {
  async open() {
    const file = join(dir, `store-${++n}.db`);
    const store = await openSqliteStore(file);
    files.set(store, file);
    return store;
  },
  async cleanup(store) {
    const file = files.get(store)!;
    for (const suffix of ['', '-wal', '-shm', '-events']) rmSync(file + suffix, { force: true });
  },
  openPeer: (store) => openSqliteStore(files.get(store)!),
});
