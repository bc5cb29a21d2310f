import type { Entity, FloriaEvent, Query, TraverseOptions, TraverseStep } from '@khutulun/floria';
import type { EntityRow } from './entity-row.js';

/**
 * The reads a backend answers natively, by entity key. Queries, class membership and
 * traversal run in the database; {@link DriverStore} builds the contract's readers on these.
 */
export interface DriverReader {
  /** The entities with these keys that exist (any order). */
  getMany(keys: readonly string[]): Promise<Entity[]>;
  /** Entities matching every criterion of `query`, ordered by key. */
  query(query: Query): Promise<Entity[]>;
  /** Vertexes reached from `options.from`, each at its shortest depth, ordered by depth then key. */
  traverse(options: TraverseOptions): Promise<TraverseStep[]>;
  /** Whether entity `entityKey` is in class `classKey` or one of its descendants. */
  isInClass(entityKey: string, classKey: string): Promise<boolean>;
}

/** A row to write: `replace` is set when an entity with that key exists already. */
export type WriteRow = EntityRow & { replace: boolean };

/** An event before the store numbers it. */
export type PendingEvent = Omit<FloriaEvent, 'seq'>;

/**
 * One open database transaction. Reads see its own writes. The core calls `commit` or
 * `rollback` exactly once, and never runs two transactions of one driver at the same time.
 */
export interface DriverTransaction extends DriverReader {
  /** Inserts or replaces entity rows (with their class memberships and class parents). */
  write(rows: readonly WriteRow[]): Promise<void>;
  /** Removes the entities with these keys (the core has already worked out cascades). */
  remove(keys: readonly string[]): Promise<void>;
  /** Appends events, numbering them after every event committed before. */
  append(events: readonly PendingEvent[]): Promise<FloriaEvent[]>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * A backend: raw reads, writes and the event log, nothing else. Transactions, change events,
 * cascades and subscriptions live once in {@link DriverStore} (Kysely's Dialect/Driver split).
 */
export interface StoreDriver {
  /** `memory`, `sqlite`, `postgres`. */
  readonly backend: string;
  /** Reads of committed state, outside any transaction. */
  readonly reader: DriverReader;
  begin(): Promise<DriverTransaction>;
  /** Committed events with `seq > since`, oldest first, at most `limit`. */
  readEvents(since: number, limit: number): Promise<FloriaEvent[]>;
  lastSeq(): Promise<number>;
  /**
   * Calls `onCommit` whenever a transaction commits elsewhere (another store instance or
   * process on the same database). Returns a function that stops watching. Backends that
   * cannot see other writers omit it.
   */
  watch?(onCommit: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
