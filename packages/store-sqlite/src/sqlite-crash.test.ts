import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { anEdge, aVertex, id } from '@khutulun/store-conformance';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from './sqlite-store.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'khutulun-sqlite-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The child opens the store, deletes a vertex (cascading), then writes batch after batch in
// one transaction; it reports "writing" once uncommitted pages have spilled from SQLite's page
// cache into the write-ahead log on disk and "committed" if it ever gets there.
const CHILD = `
import { statSync } from 'node:fs';
import { openSqliteStore } from '@khutulun/store-sqlite';
let told = false;
const store = await openSqliteStore(process.argv[1]);
await store.transaction(async (tx) => {
  await tx.delete({ kind: 'vertex', directory: [], name: 'v0' });
  for (let batch = 0; batch < 2000; batch++) {
    const vertexes = Array.from({ length: 500 }, (_, i) => ({
      id: { kind: 'vertex', directory: ['bulk'], name: 'b' + batch + '-' + i },
      metadata: {}, classes: [], properties: { n: { value: i } },
    }));
    await tx.putMany(vertexes);
    await tx.emit({ type: 'progress', id: vertexes[0].id, data: batch });
    if (!told && statSync(process.argv[1] + '-wal').size > 0) {
      told = true;
      process.stdout.write('writing ' + batch + '\\n');
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
});
process.stdout.write('committed\\n');
`;

describe('sqlite crash safety', () => {
  it('leaves the store exactly as it was when the writer is SIGKILLed mid-transaction', async () => {
    const file = join(dir, 'crash.db');
    const store = await openSqliteStore(file);
    await store.transaction(async (tx) => {
      for (let i = 0; i < 20; i++)
        await tx.put(aVertex(`v${i}`, { properties: { i: { value: i } } }));
      await tx.put(anEdge('e01', 'v0', 'v1'));
      await tx.put(aVertex('child', { parent: id('vertex', 'v0') }));
    });
    const before = { entities: await store.query({}), events: await store.changes(0) };
    await store.close();

    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, file], {
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
    const uncommittedBytes = statSync(`${file}-wal`).size;
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(stdout).not.toContain('committed');
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
