/**
 * Access scopes: a `Store` view that allows a caller only one directory subtree.
 */
import { isInDirectory } from './directory.js';
import { AccessDenied } from './errors.js';
import type { Entity, FloriaEvent, Id, Value } from './model.js';
import type {
  EventListener,
  Query,
  Store,
  StoreReader,
  StoreTransaction,
  TraverseOptions,
  TraverseStep,
} from './store.js';

class ScopedReader implements StoreReader {
  constructor(
    protected readonly inner: StoreReader,
    readonly scope: readonly string[],
  ) {}

  protected inScope(id: Id): boolean {
    return isInDirectory(id.directory, this.scope);
  }

  protected visible<T extends { id: Id }>(entities: T[]): T[] {
    return entities.filter((entity) => this.inScope(entity.id));
  }

  /** Refuses a write outside the scope, including an edge or nesting that reaches outside it. */
  protected checkWrite(entity: Entity, operation: string): void {
    const ends: Id[] = [entity.id];
    if (entity.id.kind === 'edge' && 'target' in entity) ends.push(entity.source, entity.target);
    if ('parent' in entity && entity.parent) ends.push(entity.parent);
    for (const id of ends) {
      if (!this.inScope(id)) throw new AccessDenied(id, [...this.scope], operation);
    }
  }

  protected checkId(id: Id, operation: string): void {
    if (!this.inScope(id)) throw new AccessDenied(id, [...this.scope], operation);
  }

  async get(id: Id): Promise<Entity | undefined> {
    return this.inScope(id) ? this.inner.get(id) : undefined;
  }

  async query(query: Query): Promise<Entity[]> {
    const scoped = this.scopeQuery(query);
    return scoped ? this.visible(await this.inner.query(scoped)) : [];
  }

  /** The query restricted to the scope, or `undefined` when it can only select outside it. */
  private scopeQuery(query: Query): Query | undefined {
    const scope = [...this.scope];
    if (query.directory === undefined) return { ...query, directory: scope, recursive: true };
    if (isInDirectory(query.directory, this.scope)) return query;
    if (query.recursive && isInDirectory(this.scope, query.directory)) {
      return { ...query, directory: scope };
    }
    return undefined;
  }

  async children(parent: Id): Promise<Entity[]> {
    return this.inScope(parent) ? this.visible(await this.inner.children(parent)) : [];
  }

  async edgesOut(vertex: Id, options?: { class?: Id }): Promise<Entity[]> {
    return this.inScope(vertex) ? this.visible(await this.inner.edgesOut(vertex, options)) : [];
  }

  async edgesIn(vertex: Id, options?: { class?: Id }): Promise<Entity[]> {
    return this.inScope(vertex) ? this.visible(await this.inner.edgesIn(vertex, options)) : [];
  }

  async traverse(options: TraverseOptions): Promise<TraverseStep[]> {
    if (!this.inScope(options.from)) return [];
    const steps = await this.inner.traverse(options);
    return steps.filter((step) => this.inScope(step.vertex.id) && this.inScope(step.via.id));
  }

  async isInClass(entity: Id, cls: Id): Promise<boolean> {
    return this.inScope(entity) ? this.inner.isInClass(entity, cls) : false;
  }
}

class ScopedTransaction extends ScopedReader implements StoreTransaction {
  constructor(
    private readonly tx: StoreTransaction,
    scope: readonly string[],
  ) {
    super(tx, scope);
  }

  async put(entity: Entity): Promise<void> {
    this.checkWrite(entity, 'put');
    await this.tx.put(entity);
  }

  async delete(id: Id): Promise<boolean> {
    this.checkId(id, 'delete');
    return this.tx.delete(id);
  }

  async emit(event: { type: string; id: Id; data?: Value }): Promise<void> {
    this.checkId(event.id, 'emit');
    await this.tx.emit(event);
  }
}

/**
 * A `Store` that allows only the directory subtree `scope` of another store. Reads outside it
 * see nothing (`get` gives `undefined`; queries, graph reads and the change feed leave such
 * entities and events out). Writes outside it, and edges or nesting with an end outside it,
 * reject with `AccessDenied` naming the id and the scope. Class membership may be tested
 * against classes anywhere (it reveals nothing about other entities). `close` ends this view's
 * subscriptions; it never closes the underlying store.
 */
export class ScopedStore extends ScopedReader implements Store {
  readonly #unsubscribers = new Set<() => void>();

  constructor(
    private readonly store: Store,
    scope: readonly string[],
  ) {
    super(store, [...scope]);
  }

  get backend(): string {
    return this.store.backend;
  }

  transaction<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return this.store.transaction((tx) => work(new ScopedTransaction(tx, this.scope)));
  }

  async put(entity: Entity): Promise<void> {
    this.checkWrite(entity, 'put');
    await this.store.put(entity);
  }

  async delete(id: Id): Promise<boolean> {
    this.checkId(id, 'delete');
    return this.store.delete(id);
  }

  async changes(since: number, limit?: number): Promise<FloriaEvent[]> {
    if (limit === undefined) {
      return (await this.store.changes(since)).filter((event) => this.inScope(event.id));
    }
    // Filtering shrinks pages, so keep reading until `limit` visible events or the end.
    const result: FloriaEvent[] = [];
    let cursor = since;
    while (result.length < limit) {
      const page = await this.store.changes(cursor, limit);
      for (const event of page) {
        if (this.inScope(event.id) && result.length < limit) result.push(event);
      }
      const last = page.at(-1);
      if (!last || page.length < limit) break;
      cursor = last.seq;
    }
    return result;
  }

  subscribe(since: number, listener: EventListener): () => void {
    const stop = this.store.subscribe(since, (event) => {
      if (this.inScope(event.id)) listener(event);
    });
    const unsubscribe = () => {
      if (this.#unsubscribers.delete(unsubscribe)) stop();
    };
    this.#unsubscribers.add(unsubscribe);
    return unsubscribe;
  }

  lastSeq(): Promise<number> {
    return this.store.lastSeq();
  }

  async close(): Promise<void> {
    for (const unsubscribe of [...this.#unsubscribers]) unsubscribe();
  }
}
