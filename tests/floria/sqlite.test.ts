import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@khutulun/floria';
import { openSqliteStore } from '@khutulun/store-sqlite';
import { afterAll } from 'vitest';
import { describeFloriaScenarios } from './floria-scenarios.js';

const directory = mkdtempSync(join(tmpdir(), 'floria-scenarios-'));
let files = 0;
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const fileOf = new WeakMap<Store, string>();

describeFloriaScenarios('sqlite', {
  async open() {
    const file = join(directory, `store-${++files}.db`);
    const store = await openSqliteStore(file);
    fileOf.set(store, file);
    return store;
  },
  reopen: (store) => openSqliteStore(fileOf.get(store) as string),
});
