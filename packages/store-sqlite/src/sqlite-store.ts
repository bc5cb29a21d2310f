import { closeSync, type FSWatcher, openSync, watch, writeFileSync } from 'node:fs';
import type {
  Entity,
  FloriaEvent,
  Query,
  TraverseOptions,
  TraverseStep,
  Vertex,
  VertexTemplate,
} from '@khutulun/floria';
import {
  type BulkStore,
  chunks,
  type DriverReader,
  DriverStore,
  type DriverTransaction,
  type PendingEvent,
  type StoreDriver,
  StoreError,
  type WriteRow,
} from '@khutulun/store-core';
import Database from 'better-sqlite3';
import { SQLITE_SCHEMA } from './sqlite-schema.js';
import { IS_IN_CLASS_SQL, querySql, traverseSql } from './sqlite-sql.js';

type Db = Database.Database;
type Statement = Database.Statement;

/** Options for {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * `FULL` (default) makes every commit durable against power loss; `NORMAL` is faster and
   * still never leaves a half-written transaction, but may lose the newest commits on power loss.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long to wait for another process's write transaction before failing (default 30 s). */
  lockTimeoutMs?: number;
}

const KEYS_PER_READ = 500;

/** The statements of one connection, prepared once. */
class Statements {
  readonly getMany: Statement;
  readonly isInClass: Statement;
  readonly #cache = new Map<string, Statement>();

  constructor(readonly db: Db) {
    this.getMany = db.prepare(
      'SELECT body FROM entities WHERE key IN (SELECT value FROM json_each(?))',
    );
    this.isInClass = db.prepare(IS_IN_CLASS_SQL);
  }

  /** Query and traversal texts vary with the criteria given; each variant is prepared once. */
  prepared(text: string): Statement {
    let statement = this.#cache.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.#cache.set(text, statement);
    }
    return statement;
  }
}

class SqliteReader implements DriverReader {
  constructor(protected readonly s: Statements) {}

  async getMany(keys: readonly string[]): Promise<Entity[]> {
    const entities: Entity[] = [];
    for (const chunk of chunks(keys, KEYS_PER_READ)) {
      for (const row of this.s.getMany.all(JSON.stringify(chunk)) as Array<{ body: string }>) {
        entities.push(JSON.parse(row.body) as Entity);
      }
    }
    return entities;
  }

  async query(query: Query): Promise<Entity[]> {
    const { text, params } = querySql(query);
    const rows = this.s.prepared(text).all(...params) as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as Entity);
  }

  async traverse(options: TraverseOptions): Promise<TraverseStep[]> {
    const { text, params } = traverseSql(options);
    const rows = this.s.prepared(text).all(...params) as Array<{
      vertex: string;
      depth: number;
      via: string;
    }>;
    return rows.map((r) => ({
      vertex: JSON.parse(r.vertex) as Vertex | VertexTemplate,
      depth: r.depth,
      via: JSON.parse(r.via) as Entity,
    }));
  }

  async isInClass(entityKey: string, classKey: string): Promise<boolean> {
    return this.s.isInClass.get(entityKey, classKey) !== undefined;
  }
}

/** The writer connection's statements. */
class WriteStatements extends Statements {
  readonly upsert: Statement;
  readonly deleteEntity: Statement;
  readonly deleteMemberships: Statement;
  readonly insertMembership: Statement;
  readonly deleteParents: Statement;
  readonly insertParent: Statement;
  readonly insertEvent: Statement;

  constructor(db: Db) {
    super(db);
    this.upsert = db.prepare(
      `INSERT INTO entities (key, kind, directory, name, parent, source, target, template, body)
       VALUES (@key, @kind, @directory, @name, @parent, @source, @target, @template, @body)
       ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, directory = excluded.directory,
         name = excluded.name, parent = excluded.parent, source = excluded.source,
         target = excluded.target, template = excluded.template, body = excluded.body`,
    );
    this.deleteEntity = db.prepare('DELETE FROM entities WHERE key = ?');
    this.deleteMemberships = db.prepare('DELETE FROM memberships WHERE entity_key = ?');
    this.insertMembership = db.prepare(
      'INSERT OR IGNORE INTO memberships (entity_key, class_key) VALUES (?, ?)',
    );
    this.deleteParents = db.prepare('DELETE FROM class_parents WHERE class_key = ?');
    this.insertParent = db.prepare(
      'INSERT OR IGNORE INTO class_parents (class_key, parent_key) VALUES (?, ?)',
    );
    this.insertEvent = db.prepare('INSERT INTO events (body) VALUES (?)');
  }
}

class SqliteTransaction extends SqliteReader implements DriverTransaction {
  readonly #w: WriteStatements;
  readonly #signalFile: string;
  #lastSeq = 0;

  constructor(w: WriteStatements, signalFile: string) {
    super(w);
    this.#w = w;
    this.#signalFile = signalFile;
  }

  async write(rows: readonly WriteRow[]): Promise<void> {
    const w = this.#w;
    for (const row of rows) {
      w.upsert.run(row);
      if (row.replace) {
        w.deleteMemberships.run(row.key);
        w.deleteParents.run(row.key);
      }
      for (const cls of row.classes) w.insertMembership.run(row.key, cls);
      for (const parent of row.parents) w.insertParent.run(row.key, parent);
    }
  }

  async remove(keys: readonly string[]): Promise<void> {
    const w = this.#w;
    for (const key of keys) {
      w.deleteEntity.run(key);
      w.deleteMemberships.run(key);
      w.deleteParents.run(key);
    }
  }

  async append(events: readonly PendingEvent[]): Promise<FloriaEvent[]> {
    return events.map((event) => {
      const body = JSON.stringify(event);
      const seq = Number(this.#w.insertEvent.run(body).lastInsertRowid);
      this.#lastSeq = seq;
      return { seq, ...(JSON.parse(body) as PendingEvent) };
    });
  }

  async commit(): Promise<void> {
    this.#w.db.exec('COMMIT');
    // Only now are the events visible to readers: tell watchers in every process.
    if (this.#lastSeq > 0) writeFileSync(this.#signalFile, String(this.#lastSeq));
  }

  async rollback(): Promise<void> {
    if (this.#w.db.inTransaction) this.#w.db.exec('ROLLBACK');
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED';
}

/**
 * Two connections to one WAL file: a writer for transactions (BEGIN IMMEDIATE, so writers in
 * other processes queue behind it) and a reader, so reads outside a transaction see only
 * committed state while a transaction is open.
 */
class SqliteDriver implements StoreDriver {
  readonly backend = 'sqlite';
  readonly reader: SqliteReader;
  readonly #writer: WriteStatements;
  readonly #readDb: Db;
  readonly #readEvents: Statement;
  readonly #lastSeq: Statement;
  readonly #lockTimeoutMs: number;
  readonly #signalFile: string;

  constructor(
    readonly file: string,
    options: SqliteStoreOptions,
  ) {
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
    this.#signalFile = `${file}-events`;
    closeSync(openSync(this.#signalFile, 'a'));
    const writeDb = new Database(file);
    writeDb.pragma('journal_mode = WAL');
    writeDb.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    // The writer never blocks the event loop waiting for a lock: begin() retries asynchronously.
    writeDb.pragma('busy_timeout = 0');
    this.#beginImmediateSync(writeDb, () => writeDb.exec(SQLITE_SCHEMA));
    this.#writer = new WriteStatements(writeDb);
    const readDb = new Database(file, { readonly: true });
    readDb.pragma('busy_timeout = 5000');
    this.#readDb = readDb;
    this.reader = new SqliteReader(new Statements(readDb));
    this.#readEvents = readDb.prepare(
      'SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    this.#lastSeq = readDb.prepare('SELECT coalesce(max(seq), 0) AS seq FROM events');
  }

  // Schema creation at open may race another process opening the same new file.
  #beginImmediateSync(db: Db, work: () => void): void {
    db.pragma('busy_timeout = 5000');
    db.transaction(work).immediate();
    db.pragma('busy_timeout = 0');
  }

  async begin(): Promise<DriverTransaction> {
    const deadline = Date.now() + this.#lockTimeoutMs;
    for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
      try {
        this.#writer.db.exec('BEGIN IMMEDIATE');
        return new SqliteTransaction(this.#writer, this.#signalFile);
      } catch (error) {
        if (!isBusy(error) || Date.now() > deadline) throw error;
      }
      // Another process holds the write lock; SQLite offers no notification for its release.
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  async readEvents(since: number, limit: number): Promise<FloriaEvent[]> {
    const rows = this.#readEvents.all(since, Math.min(limit, Number.MAX_SAFE_INTEGER)) as Array<{
      seq: number;
      body: string;
    }>;
    return rows.map((r) => ({ seq: r.seq, ...(JSON.parse(r.body) as PendingEvent) }));
  }

  async lastSeq(): Promise<number> {
    return (this.#lastSeq.get() as { seq: number }).seq;
  }

  /**
   * After every commit with events, the committing store (in any process) rewrites the small
   * `<file>-events` file beside the database; an inotify watch on it wakes subscribers without
   * polling. (The write-ahead log itself is no signal: it is written before the commit becomes
   * visible to readers.)
   */
  async watch(onCommit: () => void): Promise<() => Promise<void>> {
    let scheduled = false;
    const watcher: FSWatcher = watch(this.#signalFile, { persistent: false }, () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        onCommit();
      });
    });
    watcher.on('error', () => undefined);
    return async () => watcher.close();
  }

  async close(): Promise<void> {
    this.#readDb.close();
    this.#writer.db.close();
  }
}

/**
 * Opens (creating if needed) the SQLite store in `file`: one database file in WAL mode, the
 * embedded default. Commits by other processes on the same file reach this store's
 * subscribers (through an inotify watch on the `<file>-events` signal file beside it). A
 * process killed mid-transaction leaves the file as it was before that transaction. Write
 * transactions of several processes queue on SQLite's write lock (retried with a short
 * backoff, as SQLite gives no notification of its release).
 */
export async function openSqliteStore(
  file: string,
  options: SqliteStoreOptions = {},
): Promise<BulkStore> {
  if (file === '' || file === ':memory:' || file.startsWith('file:')) {
    // Two connections (writer and reader) must reach the same database: it has to be a file.
    throw new StoreError('backend', `the SQLite store needs a database file path, not "${file}"`, {
      backend: 'sqlite',
    });
  }
  return new DriverStore(new SqliteDriver(file, options));
}
