import type { Entity, FloriaEvent, Query, TraverseOptions, TraverseStep } from '@khutulun/floria';
import {
  type BulkStore,
  type DriverReader,
  DriverStore,
  type DriverTransaction,
  type PendingEvent,
  type StoreDriver,
  type WriteRow,
} from '@khutulun/store-core';
import {
  BaseTable,
  isInClass,
  OverlayTable,
  queryTable,
  type Table,
  traverseTable,
} from './memory-table.js';

class MemoryReader implements DriverReader {
  constructor(protected readonly table: Table) {}

  async getMany(keys: readonly string[]): Promise<Entity[]> {
    const entities: Entity[] = [];
    for (const key of keys) {
      const row = this.table.get(key);
      if (row) entities.push(JSON.parse(row.body) as Entity);
    }
    return entities;
  }

  async query(query: Query): Promise<Entity[]> {
    return queryTable(this.table, query);
  }

  async traverse(options: TraverseOptions): Promise<TraverseStep[]> {
    return traverseTable(this.table, options);
  }

  async isInClass(entityKey: string, classKey: string): Promise<boolean> {
    return isInClass(this.table, entityKey, classKey);
  }
}

class MemoryTransaction extends MemoryReader implements DriverTransaction {
  readonly #view: OverlayTable;
  readonly #driver: MemoryDriver;

  constructor(driver: MemoryDriver, view: OverlayTable) {
    super(view);
    this.#driver = driver;
    this.#view = view;
  }

  async write(rows: readonly WriteRow[]): Promise<void> {
    for (const { replace: _, ...row } of rows) this.#view.overlay.set(row.key, row);
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.#view.overlay.set(key, null);
  }

  #pending: string[] = [];

  async append(events: readonly PendingEvent[]): Promise<FloriaEvent[]> {
    const first = this.#driver.events.length + this.#pending.length + 1;
    // Stored as JSON, like the SQL backends: nobody holding an event object can change the log.
    const numbered = events.map((e, i) => JSON.stringify({ seq: first + i, ...e }));
    this.#pending.push(...numbered);
    return numbered.map((e) => JSON.parse(e) as FloriaEvent);
  }

  async commit(): Promise<void> {
    for (const [key, row] of this.#view.overlay) this.#driver.table.set(key, row);
    this.#driver.events.push(...this.#pending);
  }

  async rollback(): Promise<void> {}
}

/** Keeps rows and events in process memory; transactions write to an overlay until commit. */
class MemoryDriver implements StoreDriver {
  readonly backend = 'memory';
  readonly table = new BaseTable();
  /** The event log as JSON; the event with seq n is at index n - 1. */
  readonly events: string[] = [];
  readonly reader = new MemoryReader(this.table);

  async begin(): Promise<DriverTransaction> {
    return new MemoryTransaction(this, new OverlayTable(this.table));
  }

  async readEvents(since: number, limit: number): Promise<FloriaEvent[]> {
    // Sequence numbers are 1, 2, 3, ...: the event with seq n is at index n - 1.
    const start = Math.max(0, Math.floor(since));
    return this.events.slice(start, start + limit).map((e) => JSON.parse(e) as FloriaEvent);
  }

  async lastSeq(): Promise<number> {
    return this.events.length;
  }

  async close(): Promise<void> {}
}

/**
 * Opens an empty in-memory Floria store: the full store contract (transactions with
 * isolation from outside reads until commit, events, subscriptions), nothing persisted.
 * For tests and short-lived tools; it sees no other process.
 */
export function openMemoryStore(): BulkStore {
  return new DriverStore(new MemoryDriver());
}
