/** The brand that identifies a store error across module copies and process boundaries. */
export const STORE_ERROR = Symbol.for('khutulun.store-error');

/** Why a store operation failed. */
export type StoreErrorCode =
  /** The entity is malformed (missing or ill-typed identity fields). */
  | 'invalid-entity'
  /** A transaction object was used after its transaction ended. */
  | 'transaction-closed'
  /** `store.transaction` was called inside one of its own transactions (it would deadlock). */
  | 'nested-transaction'
  /** The store was used after `close()`. */
  | 'store-closed'
  /** The database refused or failed an operation; `cause` holds its error. */
  | 'backend';

/**
 * The one error class of the store layer: a `code`, the backend and, where one is concerned,
 * the entity key; the underlying database error as `cause`. Recognise it with
 * {@link isStoreError}, not `instanceof`.
 */
export class StoreError extends Error {
  readonly [STORE_ERROR] = true;
  override readonly name = 'StoreError';
  readonly code: StoreErrorCode;
  readonly backend: string;
  readonly entity: string | undefined;

  constructor(
    code: StoreErrorCode,
    message: string,
    details: { backend: string; entity?: string; cause?: unknown },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.backend = details.backend;
    this.entity = details.entity;
  }
}

/** Whether `error` is a {@link StoreError} (by brand, so it works across copies of this module). */
export function isStoreError(error: unknown): error is StoreError {
  return typeof error === 'object' && error !== null && STORE_ERROR in error;
}
