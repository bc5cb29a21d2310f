import { AsyncLocalStorage } from 'node:async_hooks';
import type {
  Entity,
  EventListener,
  FloriaEvent,
  Id,
  Query,
  Store,
  StoreReader,
  StoreTransaction,
  TraverseOptions,
  TraverseStep,
  Value,
} from '@khutulun/floria';
import { changeEvents, copyId } from './change-events.js';
import { checkId, entityKey, entityRow } from './entity-row.js';
import type {
  DriverReader,
  DriverTransaction,
  PendingEvent,
  StoreDriver,
  WriteRow,
} from './store-driver.js';
import { isStoreError, StoreError } from './store-error.js';
import { SubscriptionHub } from './subscription-hub.js';

/** A transaction with the bulk write the contract leaves out: `putMany`. */
export interface BulkStoreTransaction extends StoreTransaction {
  /**
   * `put` of every entity, in order, with one round of reads and writes: the fast path for
   * loading many entities (the events are those of the equivalent `put` calls).
   */
  putMany(entities: readonly Entity[]): Promise<void>;
}

/** A {@link Store} whose transactions also offer `putMany`. */
export interface BulkStore extends Store {
  transaction<T>(work: (tx: BulkStoreTransaction) => Promise<T>): Promise<T>;
}

function wrapBackendError(backend: string, error: unknown): unknown {
  if (isStoreError(error)) return error;
  return new StoreError('backend', `${backend} store: ${(error as Error)?.message ?? error}`, {
    backend,
    cause: error,
  });
}

/** The contract's reads, implemented over a driver's key-based reads. */
class Reader<R extends DriverReader = DriverReader> implements StoreReader {
  constructor(
    protected readonly driverReader: () => R,
    readonly backend: string,
  ) {}

  protected async run<T>(read: (reader: R) => Promise<T>): Promise<T> {
    try {
      return await read(this.driverReader());
    } catch (error) {
      throw wrapBackendError(this.backend, error);
    }
  }

  async get(id: Id): Promise<Entity | undefined> {
    const key = entityKey(id);
    const [entity] = await this.run((r) => r.getMany([key]));
    return entity;
  }

  query(query: Query): Promise<Entity[]> {
    return this.run((r) => r.query(query));
  }

  children(parent: Id): Promise<Entity[]> {
    return this.run((r) => r.query({ parent }));
  }

  edgesOut(vertex: Id, options?: { class?: Id }): Promise<Entity[]> {
    return this.run((r) =>
      r.query({ source: vertex, ...(options?.class && { class: options.class }) }),
    );
  }

  edgesIn(vertex: Id, options?: { class?: Id }): Promise<Entity[]> {
    return this.run((r) =>
      r.query({ target: vertex, ...(options?.class && { class: options.class }) }),
    );
  }

  traverse(options: TraverseOptions): Promise<TraverseStep[]> {
    if (!(options.depth >= 1)) return Promise.resolve([]);
    return this.run((r) => r.traverse(options));
  }

  isInClass(entity: Id, cls: Id): Promise<boolean> {
    return this.run((r) => r.isInClass(entityKey(entity), entityKey(cls)));
  }
}

class CoreTransaction extends Reader<DriverTransaction> implements BulkStoreTransaction {
  readonly events: PendingEvent[] = [];
  #open = true;

  constructor(tx: DriverTransaction, backend: string) {
    super(() => {
      if (!this.#open) {
        throw new StoreError('transaction-closed', 'the transaction has ended', { backend });
      }
      return tx;
    }, backend);
  }

  close(): void {
    this.#open = false;
  }

  put(entity: Entity): Promise<void> {
    return this.putMany([entity]);
  }

  async putMany(entities: readonly Entity[]): Promise<void> {
    const rows = entities.map((e) => entityRow(e, this.backend));
    await this.run(async (tx) => {
      const existing = new Map<string, Entity>();
      for (const entity of await tx.getMany([...new Set(rows.map((r) => r.key))])) {
        existing.set(entityKey(entity.id), entity);
      }
      const time = new Date().toISOString();
      const writes = new Map<string, WriteRow>();
      rows.forEach((row, i) => {
        const entity = entities[i]!;
        const old = existing.get(row.key);
        const events = changeEvents(old, entity, time);
        if (events.length === 0) return;
        this.events.push(...events);
        // A key already written in this batch replaces that row, so it "exists" already.
        writes.set(row.key, { ...row, replace: old !== undefined });
        // Only compared against within this synchronous loop, so the caller's object will do.
        existing.set(row.key, entity);
      });
      if (writes.size > 0) await tx.write([...writes.values()]);
    });
  }

  async delete(id: Id): Promise<boolean> {
    const key = entityKey(id);
    return this.run(async (tx) => {
      const [root] = await tx.getMany([key]);
      if (root === undefined) return false;
      // Everything that cannot outlive the entity: edges in and out and children, recursively.
      const doomed = new Map<string, Entity>();
      const visit = async (entity: Entity): Promise<void> => {
        const k = entityKey(entity.id);
        if (doomed.has(k)) return;
        doomed.set(k, entity);
        const kind = entity.id.kind;
        if (kind !== 'vertex' && kind !== 'vertex-template') return;
        const [children, out, into] = [
          await tx.query({ parent: entity.id }),
          await tx.query({ source: entity.id }),
          await tx.query({ target: entity.id }),
        ];
        for (const edge of [...out, ...into]) doomed.set(entityKey(edge.id), edge);
        for (const child of children) await visit(child);
      };
      await visit(root);
      await tx.remove([...doomed.keys()]);
      const time = new Date().toISOString();
      // Dependents first, the deleted entity last. Each event carries the entity as it was, so
      // that whoever handles it (e.g. the handlers declared on it) can still see it.
      for (const entity of [...doomed.values()].reverse()) {
        this.events.push({
          type: 'removed',
          id: copyId(entity.id),
          time,
          data: { entity: entity as unknown as Value },
        });
      }
      return true;
    });
  }

  async emit(event: { type: string; id: Id; data?: Value }): Promise<void> {
    checkId(event.id, this.backend, 'event id');
    if (typeof event.type !== 'string' || event.type === '') {
      throw new StoreError('invalid-entity', 'an event needs a type', { backend: this.backend });
    }
    // Refused, like every other operation, once the transaction has ended.
    await this.run(async () => undefined);
    this.events.push({
      type: event.type,
      id: copyId(event.id),
      time: new Date().toISOString(),
      ...(event.data !== undefined && { data: structuredClone(event.data) }),
    });
  }
}

/**
 * The store every backend becomes: wraps a {@link StoreDriver} with serialized all-or-nothing
 * transactions, the change events of each write, delete cascades, and the change feed with
 * subscriptions (backlog then live, in order, no gaps or duplicates).
 */
export class DriverStore extends Reader implements BulkStore {
  readonly #driver: StoreDriver;
  readonly #hub: SubscriptionHub;
  readonly #inTransaction = new AsyncLocalStorage<boolean>();
  #queue: Promise<unknown> = Promise.resolve();
  #unwatch: Promise<(() => Promise<void>) | undefined> | undefined;

  readonly #state: { closed: boolean };

  constructor(driver: StoreDriver) {
    const state = { closed: false };
    super(() => {
      if (state.closed) {
        throw new StoreError('store-closed', 'the store is closed', { backend: driver.backend });
      }
      return driver.reader;
    }, driver.backend);
    this.#state = state;
    this.#driver = driver;
    this.#hub = new SubscriptionHub((since, limit) => driver.readEvents(since, limit));
  }

  transaction<T>(work: (tx: BulkStoreTransaction) => Promise<T>): Promise<T> {
    if (this.#state.closed) {
      return Promise.reject(
        new StoreError('store-closed', 'the store is closed', { backend: this.backend }),
      );
    }
    if (this.#inTransaction.getStore()) {
      return Promise.reject(
        new StoreError(
          'nested-transaction',
          'store.transaction called inside a transaction of the same store: use the transaction object',
          { backend: this.backend },
        ),
      );
    }
    const run = this.#queue.then(() => this.#run(work));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #run<T>(work: (tx: BulkStoreTransaction) => Promise<T>): Promise<T> {
    let driverTx: DriverTransaction;
    try {
      driverTx = await this.#driver.begin();
    } catch (error) {
      throw wrapBackendError(this.backend, error);
    }
    const tx = new CoreTransaction(driverTx, this.backend);
    let result: T;
    let committed: FloriaEvent[];
    try {
      result = await this.#inTransaction.run(true, () => work(tx));
    } catch (error) {
      // The caller's own error, unchanged: nothing it wrote stays.
      tx.close();
      await driverTx.rollback().catch(() => undefined);
      throw error;
    }
    tx.close();
    try {
      committed = tx.events.length > 0 ? await driverTx.append(tx.events) : [];
      await driverTx.commit();
    } catch (error) {
      await driverTx.rollback().catch(() => undefined);
      throw wrapBackendError(this.backend, error);
    }
    this.#hub.committed(committed);
    return result;
  }

  put(entity: Entity): Promise<void> {
    return this.transaction((tx) => tx.put(entity));
  }

  delete(id: Id): Promise<boolean> {
    return this.transaction((tx) => tx.delete(id));
  }

  async changes(since: number, limit?: number): Promise<FloriaEvent[]> {
    this.#checkOpen();
    try {
      return await this.#driver.readEvents(since, limit ?? Number.MAX_SAFE_INTEGER);
    } catch (error) {
      throw wrapBackendError(this.backend, error);
    }
  }

  subscribe(since: number, listener: EventListener): () => void {
    if (this.#driver.watch && this.#unwatch === undefined) {
      // Commits that land while the watch is being set up produce no notification: catch up
      // once it is in place.
      this.#unwatch = this.#driver
        .watch(() => this.#hub.poke())
        .then((unwatch) => {
          this.#hub.poke();
          return unwatch;
        })
        .catch(() => undefined);
    }
    return this.#hub.subscribe(since, listener);
  }

  async lastSeq(): Promise<number> {
    this.#checkOpen();
    try {
      return await this.#driver.lastSeq();
    } catch (error) {
      throw wrapBackendError(this.backend, error);
    }
  }

  #checkOpen(): void {
    if (this.#state.closed) {
      throw new StoreError('store-closed', 'the store is closed', { backend: this.backend });
    }
  }

  /** Waits for running transactions, stops subscriptions and closes the database. Idempotent. */
  async close(): Promise<void> {
    if (this.#state.closed) return;
    this.#state.closed = true;
    await this.#queue;
    this.#hub.close();
    const unwatch = await this.#unwatch;
    await unwatch?.();
    await this.#driver.close();
  }
}
