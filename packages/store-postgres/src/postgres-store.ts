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
  type WriteRow,
} from '@khutulun/store-core';
import pg from 'pg';
import { EVENTS_CHANNEL, POSTGRES_SCHEMA, WRITE_LOCK } from './postgres-schema.js';
import { IS_IN_CLASS_SQL, querySql, traverseSql } from './postgres-sql.js';

/** Options for {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** A `postgresql://` URL. */
  connectionString: string;
  /** Pool size for reads outside transactions and the transactions themselves (default 4). */
  poolSize?: number;
}

/** Anything that runs a query: the pool (autocommit reads) or a transaction's client. */
type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

const ROWS_PER_STATEMENT = 5000;

class PostgresReader implements DriverReader {
  constructor(protected readonly db: Queryable) {}

  async getMany(keys: readonly string[]): Promise<Entity[]> {
    const entities: Entity[] = [];
    for (const chunk of chunks(keys, ROWS_PER_STATEMENT)) {
      const result = await this.db.query<{ body: string }>(
        'SELECT body FROM entities WHERE key = ANY($1::text[])',
        [chunk],
      );
      for (const row of result.rows) entities.push(JSON.parse(row.body) as Entity);
    }
    return entities;
  }

  async query(query: Query): Promise<Entity[]> {
    const { text, values } = querySql(query);
    const result = await this.db.query<{ body: string }>(text, values);
    return result.rows.map((r) => JSON.parse(r.body) as Entity);
  }

  async traverse(options: TraverseOptions): Promise<TraverseStep[]> {
    const { text, values } = traverseSql(options);
    const result = await this.db.query<{ vertex: string; depth: number; via: string }>(
      text,
      values,
    );
    return result.rows.map((r) => ({
      vertex: JSON.parse(r.vertex) as Vertex | VertexTemplate,
      depth: Number(r.depth),
      via: JSON.parse(r.via) as Entity,
    }));
  }

  async isInClass(entityKey: string, classKey: string): Promise<boolean> {
    const result = await this.db.query(IS_IN_CLASS_SQL, [entityKey, classKey]);
    return result.rows.length > 0;
  }
}

class PostgresTransaction extends PostgresReader implements DriverTransaction {
  readonly #client: pg.PoolClient;
  readonly #committed: (rowsWritten: number) => Promise<void>;
  #done = false;
  #written = 0;

  constructor(client: pg.PoolClient, committed: (rowsWritten: number) => Promise<void>) {
    super(client);
    this.#client = client;
    this.#committed = committed;
  }

  async write(rows: readonly WriteRow[]): Promise<void> {
    this.#written += rows.length;
    const c = this.#client;
    for (const chunk of chunks(rows, ROWS_PER_STATEMENT)) {
      const column = (f: (r: WriteRow) => string | null) => chunk.map(f);
      // Existence is known (and stable under the write lock): new rows need no conflict check.
      const upsert = chunk.some((r) => r.replace)
        ? `ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, directory = excluded.directory,
           name = excluded.name, parent = excluded.parent, source = excluded.source,
           target = excluded.target, template = excluded.template, body = excluded.body`
        : '';
      await c.query(
        `INSERT INTO entities (key, kind, directory, name, parent, source, target, template, body)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
         ${upsert}`,
        [
          column((r) => r.key),
          column((r) => r.kind),
          column((r) => r.directory),
          column((r) => r.name),
          column((r) => r.parent),
          column((r) => r.source),
          column((r) => r.target),
          column((r) => r.template),
          column((r) => r.body),
        ],
      );
      const replaced = chunk.filter((r) => r.replace).map((r) => r.key);
      if (replaced.length > 0) {
        await c.query('DELETE FROM memberships WHERE entity_key = ANY($1::text[])', [replaced]);
        await c.query('DELETE FROM class_parents WHERE class_key = ANY($1::text[])', [replaced]);
      }
      await this.#pairs('memberships (entity_key, class_key)', chunk, (r) => r.classes);
      await this.#pairs('class_parents (class_key, parent_key)', chunk, (r) => r.parents);
    }
  }

  async #pairs(
    table: string,
    rows: readonly WriteRow[],
    targets: (r: WriteRow) => string[],
  ): Promise<void> {
    const left: string[] = [];
    const right: string[] = [];
    for (const row of rows) {
      for (const target of targets(row)) {
        left.push(row.key);
        right.push(target);
      }
    }
    if (left.length === 0) return;
    await this.#client.query(
      // Classes are deduplicated per row and a replaced row's pairs were deleted: no conflicts.
      `INSERT INTO ${table} SELECT * FROM unnest($1::text[], $2::text[])`,
      [left, right],
    );
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (const chunk of chunks(keys, ROWS_PER_STATEMENT)) {
      await this.#client.query('DELETE FROM entities WHERE key = ANY($1::text[])', [chunk]);
      await this.#client.query('DELETE FROM memberships WHERE entity_key = ANY($1::text[])', [
        chunk,
      ]);
      await this.#client.query('DELETE FROM class_parents WHERE class_key = ANY($1::text[])', [
        chunk,
      ]);
    }
  }

  async append(events: readonly PendingEvent[]): Promise<FloriaEvent[]> {
    const numbered: FloriaEvent[] = [];
    for (const chunk of chunks(events, ROWS_PER_STATEMENT)) {
      const bodies = chunk.map((e) => JSON.stringify(e));
      // Identity values are drawn in the order rows are inserted, which ORDER BY i fixes: the
      // returned numbers, sorted, belong to the events in their order.
      const result = await this.#client.query<{ seq: string }>(
        `INSERT INTO events (body)
         SELECT b FROM unnest($1::text[]) WITH ORDINALITY AS t(b, i) ORDER BY i
         RETURNING seq`,
        [bodies],
      );
      const seqs = result.rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
      bodies.forEach((body, i) => {
        numbered.push({ seq: seqs[i]!, ...(JSON.parse(body) as PendingEvent) });
      });
    }
    if (numbered.length > 0) {
      // Delivered to listeners only if and when this transaction commits.
      await this.#client.query('SELECT pg_notify($1, $2)', [
        EVENTS_CHANNEL,
        String(numbered.at(-1)!.seq),
      ]);
    }
    return numbered;
  }

  async commit(): Promise<void> {
    try {
      await this.#client.query('COMMIT');
    } finally {
      this.#release();
    }
    await this.#committed(this.#written);
  }

  async rollback(): Promise<void> {
    try {
      await this.#client.query('ROLLBACK');
    } catch (error) {
      // A connection that cannot even roll back must not go back into the pool.
      this.#release(error as Error);
      throw error;
    } finally {
      this.#release();
    }
  }

  #release(error?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#client.release(error);
  }
}

/** One pool: autocommit reads outside transactions, and one client per transaction. */
class PostgresDriver implements StoreDriver {
  readonly backend = 'postgres';
  readonly reader: PostgresReader;
  readonly #pool: pg.Pool;
  readonly #connectionString: string;

  constructor(pool: pg.Pool, connectionString: string) {
    this.#pool = pool;
    this.#connectionString = connectionString;
    this.reader = new PostgresReader(pool);
  }

  async begin(): Promise<DriverTransaction> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
    } catch (error) {
      client.release(true);
      throw error;
    }
    return new PostgresTransaction(client, (rows) => this.#analyzeAfterBulk(rows));
  }

  #rowsSinceAnalyze = 0;
  #rowsAtAnalyze = 0;

  /**
   * Right after a bulk load the planner has no statistics for index plans, and every fresh
   * row still costs a commit-status lookup on read; autovacuum fixes both, but only within a
   * minute or so. Once the entities grew by half since the last time (and by at least 10,000
   * rows), vacuum and analyze now.
   */
  async #analyzeAfterBulk(rows: number): Promise<void> {
    this.#rowsSinceAnalyze += rows;
    if (this.#rowsSinceAnalyze < Math.max(10_000, this.#rowsAtAnalyze / 2)) return;
    this.#rowsAtAnalyze += this.#rowsSinceAnalyze;
    this.#rowsSinceAnalyze = 0;
    await this.#pool
      .query('VACUUM (ANALYZE) entities, memberships, class_parents, events')
      .catch(() => undefined);
  }

  async readEvents(since: number, limit: number): Promise<FloriaEvent[]> {
    const result = await this.#pool.query<{ seq: string; body: string }>(
      'SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2',
      [since, Math.min(limit, Number.MAX_SAFE_INTEGER)],
    );
    return result.rows.map((r) => ({
      seq: Number(r.seq),
      ...(JSON.parse(r.body) as PendingEvent),
    }));
  }

  async lastSeq(): Promise<number> {
    const result = await this.#pool.query<{ seq: string }>(
      'SELECT coalesce(max(seq), 0) AS seq FROM events',
    );
    return Number(result.rows[0]!.seq);
  }

  /**
   * LISTEN on a dedicated connection: every commit with events, from any process, notifies.
   * If that connection drops it is re-established (and subscribers catch up from the log).
   */
  async watch(onCommit: () => void): Promise<() => Promise<void>> {
    let closed = false;
    let client: pg.Client | undefined;
    const connect = async (): Promise<void> => {
      const next = new pg.Client({ connectionString: this.#connectionString });
      next.on('notification', () => onCommit());
      next.on('error', () => {
        if (closed) return;
        void next.end().catch(() => undefined);
        setTimeout(() => void connect().catch(() => undefined), 1000).unref();
      });
      await next.connect();
      await next.query(`LISTEN ${EVENTS_CHANNEL}`);
      client = next;
      if (closed) await next.end();
      else onCommit();
    };
    await connect();
    return async () => {
      closed = true;
      await client?.end().catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

/**
 * Opens the PostgreSQL store in the database at `connectionString`, creating its tables if
 * needed. Several store instances and processes can share one database: write transactions
 * are serialized across all of them, and each instance's subscribers receive every commit
 * through LISTEN/NOTIFY.
 */
export async function openPostgresStore(
  options: PostgresStoreOptions | string,
): Promise<BulkStore> {
  const { connectionString, poolSize } =
    typeof options === 'string' ? { connectionString: options, poolSize: undefined } : options;
  const pool = new pg.Pool({ connectionString, max: poolSize ?? 4 });
  // An idle client's connection failing must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [WRITE_LOCK]);
      await client.query(POSTGRES_SCHEMA);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end();
    throw error;
  }
  return new DriverStore(new PostgresDriver(pool, connectionString));
}
