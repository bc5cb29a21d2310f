import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Entity, FloriaEvent, Store } from '@khutulun/floria';
import { expect } from 'vitest';
import { anEdge, aVertex, collect, id } from './store-fixtures.js';

/** How a child Node process opens the store a test has open: `open(location)` from `module`. */
export interface StoreInChild {
  /** The backend's package, e.g. `@khutulun/store-sqlite`. */
  module: string;
  /** Its open function, e.g. `openSqliteStore`. */
  open: string;
  /** What the open function is given: a database file or a connection URL. */
  location: string;
}

// The workspace's packages resolve from here, whichever backend a child imports.
const packageDir = fileURLToPath(new URL('..', import.meta.url));

/** Runs `body` in a child process with `store` (and `location`) open on the same database. */
function spawnWithStore(
  child: StoreInChild,
  body: string,
): ChildProcessByStdio<null, Readable, Readable> {
  const script = `
import { statSync } from 'node:fs';
import { ${child.open} as open } from '${child.module}';
const location = process.argv[1];
const store = await open(location);
${body}`;
  return spawn(process.execPath, ['--input-type=module', '-e', script, child.location], {
    cwd: packageDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Asserts that commits another process makes reach a live subscriber of `store`, in order,
 * while nothing is written through `store` itself (only the backend's notification can wake it).
 */
export async function expectCommitsFromAnotherProcess(
  store: Store,
  child: StoreInChild,
): Promise<void> {
  await store.put(aVertex('mine'));
  const sub = collect(store, 0);
  await sub.until(1);
  const writer = spawnWithStore(
    child,
    `for (const name of ['p1', 'p2', 'p3']) {
  await store.put({ id: { kind: 'vertex', directory: [], name }, metadata: {}, classes: [], properties: {} });
}
await store.close();`,
  );
  let stderr = '';
  writer.stderr.on('data', (d) => {
    stderr += d;
  });
  writer.stdout.resume();
  const code = await new Promise((resolve) => writer.on('exit', resolve));
  expect(code, stderr).toBe(0);
  const events = await sub.until(4);
  expect(events.map((e) => `${e.type} ${e.id.name}`)).toEqual([
    'added mine',
    'added p1',
    'added p2',
    'added p3',
  ]);
  sub.stop();
}

/** What a killed writer's test needs to compare against. */
export interface BeforeTheCrash {
  entities: Entity[];
  events: FloriaEvent[];
}

/**
 * Seeds `store` with vertexes, an edge and a child of `v0`, then has another process delete
 * `v0` (a cascade) and write batch after batch in one transaction, and SIGKILLs it once
 * `spilled` (a condition evaluated in the child after each batch, over `batch` and `location`)
 * says its uncommitted writes have reached the database; `beforeKill` can check that they
 * have. Asserts the child died uncommitted, and resolves with what the store held before.
 */
export async function killWriterMidTransaction(
  store: Store,
  child: StoreInChild,
  options: { spilled: string; beforeKill?: () => Promise<void> },
): Promise<BeforeTheCrash> {
  await store.transaction(async (tx) => {
    for (let i = 0; i < 20; i++)
      await tx.put(aVertex(`v${i}`, { properties: { i: { value: i } } }));
    await tx.put(anEdge('e01', 'v0', 'v1'));
    await tx.put(aVertex('child', { parent: id('vertex', 'v0') }));
  });
  const before = { entities: await store.query({}), events: await store.changes(0) };

  const writer = spawnWithStore(
    child,
    `let told = false;
await store.transaction(async (tx) => {
  await tx.delete({ kind: 'vertex', directory: [], name: 'v0' });
  for (let batch = 0; batch < 2000; batch++) {
    const vertexes = Array.from({ length: 500 }, (_, i) => ({
      id: { kind: 'vertex', directory: ['bulk'], name: 'b' + batch + '-' + i },
      metadata: {}, classes: [], properties: { n: { value: i } },
    }));
    await tx.putMany(vertexes);
    await tx.emit({ type: 'progress', id: vertexes[0].id, data: batch });
    if (!told && (${options.spilled})) {
      told = true;
      process.stdout.write('writing ' + batch + '\\n');
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
});
process.stdout.write('committed\\n');`,
  );
  let stdout = '';
  let stderr = '';
  writer.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    writer.on('exit', (_code, signal) => resolve(signal)),
  );
  await new Promise<void>((resolve, reject) => {
    writer.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('writing')) resolve();
    });
    writer.on('exit', () => reject(new Error(`the writer exited before writing: ${stderr}`)));
  });
  await options.beforeKill?.();
  writer.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  expect(stdout).not.toContain('committed');
  return before;
}
