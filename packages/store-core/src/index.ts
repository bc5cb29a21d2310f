/**
 * The backend-independent core of every Floria store: a backend implements the small
 * {@link StoreDriver} contract (raw reads, writes, event log) and {@link DriverStore} turns it
 * into the full `Store` (transactions, change events, cascades, subscriptions).
 */
export { chunks } from './chunks.js';
export type { BulkStore, BulkStoreTransaction } from './driver-store.js';
export { DriverStore } from './driver-store.js';
export type { EntityRow } from './entity-row.js';
export { directoryPath, entityKey, entityRow } from './entity-row.js';
export type { SqlParams } from './query-sql.js';
export {
  querySql,
  traverseClassCtes,
  traverseResultSql,
  traverseStepFilter,
} from './query-sql.js';
export type {
  DriverReader,
  DriverTransaction,
  PendingEvent,
  StoreDriver,
  WriteRow,
} from './store-driver.js';
export type { StoreErrorCode } from './store-error.js';
export { isStoreError, STORE_ERROR, StoreError } from './store-error.js';
