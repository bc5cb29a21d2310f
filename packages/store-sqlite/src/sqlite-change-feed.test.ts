import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aVertex, collect } from '@khutulun/store-conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'khutulun-sqlite-feed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Another process writes three transactions to the same file, one after the other.
const CHILD = `
import { openSqliteStore } from '@khutulun/store-sqlite';
const store = await openSqliteStore(process.argv[1]);
for (const name of ['p1', 'p2', 'p3']) {
  await store.put({ id: { kind: 'vertex', directory: [], name }, metadata: {}, classes: [], properties: {} });
}
await store.close();
`;

describe('sqlite change feed across processes', () => {
  it('delivers commits made by another process to a live subscriber, in order', async () => {
    const file = join(dir, 'feed.db');
    const store = await openSqliteStore(file);
    await store.put(aVertex('mine'));
    const sub = collect(store, 0);
    await sub.until(1);
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, file], {
      cwd: packageDir,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    // Nothing is written through `store` meanwhile: only the other process's commits can wake it.
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
