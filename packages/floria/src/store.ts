/**
 * The store contract: one async interface that every backend (in-memory, SQLite, PostgreSQL)
 * implements and one conformance suite (`@khutulun/store-conformance`) checks.
 *
 * Graph queries (containment, edges in and out, by class, traversal to a depth) are the
 * store's job, done in the database, never by loading the graph into memory.
 */
import type {
  Edge,
  Entity,
  EntityKind,
  FloriaEvent,
  Id,
  Metadata,
  Value,
  Vertex,
  VertexTemplate,
} from './model.js';

/** A selection of entities. All given criteria must hold. */
export interface Query {
  kind?: EntityKind;
  /** Entities directly in this directory, or anywhere in its subtree with `recursive`. */
  directory?: string[];
  recursive?: boolean;
  /** Entities in this class or in any of its descendant classes. */
  class?: Id;
  /** Entities whose direct parent (containment) is this vertex or vertex template. */
  parent?: Id;
  /** Edges or edge templates going out of / into this vertex (or vertex template). */
  source?: Id;
  target?: Id;
  /** Instances of this template. */
  template?: Id;
  /** Entities whose metadata has all these entries. */
  metadata?: Metadata;
  limit?: number;
}

/** Options for following edges from a vertex. */
export interface TraverseOptions {
  /** The starting vertex (or vertex template). It is not part of the result. */
  from: Id;
  /** How many edges deep to go (>= 1). */
  depth: number;
  /** Follow edges out of (default), into, or both ways around each vertex. */
  direction?: 'out' | 'in' | 'both';
  /** Follow only edges in this class (or its descendants). */
  edgeClass?: Id;
  /** Reach (and continue through) only vertexes in this class (or its descendants). */
  vertexClass?: Id;
}

/** A vertex reached by a traversal, at its shortest depth, with the edge it was reached by. */
export interface TraverseStep {
  vertex: Vertex | VertexTemplate;
  depth: number;
  via: Edge | Entity;
}

/** Read operations, available on the store and inside transactions. */
export interface StoreReader {
  get(id: Id): Promise<Entity | undefined>;
  query(query: Query): Promise<Entity[]>;
  /** Direct children (containment) of a vertex or vertex template. */
  children(parent: Id): Promise<Entity[]>;
  edgesOut(vertex: Id, options?: { class?: Id }): Promise<Entity[]>;
  edgesIn(vertex: Id, options?: { class?: Id }): Promise<Entity[]>;
  traverse(options: TraverseOptions): Promise<TraverseStep[]>;
  /** Whether `entity` is in `cls`, directly or through ancestors of its classes. */
  isInClass(entity: Id, cls: Id): Promise<boolean>;
}

/**
 * Writes inside a transaction: all of them take effect, with their events, or none do.
 *
 * `put` of a new entity records an `added` event; of an existing one, an `updated` event
 * and one `property-changed` event per property whose value changed
 * (`data: { property, old, new }`). `delete` records `removed` (`data: { entity }`, the entity
 * as it was) for the entity and each dependent it takes along. `emit` records a custom event.
 */
export interface StoreTransaction extends StoreReader {
  put(entity: Entity): Promise<void>;
  /** Deletes the entity; deleting a vertex also deletes its edges in and out and its children. */
  delete(id: Id): Promise<boolean>;
  emit(event: { type: string; id: Id; data?: Value }): Promise<void>;
}

/** Called with each event, in sequence order. */
export type EventListener = (event: FloriaEvent) => void;

/** A Floria store backend. */
export interface Store extends StoreReader {
  /** `memory`, `sqlite` or `postgres`. */
  readonly backend: string;
  /**
   * Runs `work` in one transaction: if it throws (or the process dies), nothing it wrote
   * stays. Transactions are serialized per store.
   */
  transaction<T>(work: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /** `put` in a transaction of its own. */
  put(entity: Entity): Promise<void>;
  /** `delete` in a transaction of its own. */
  delete(id: Id): Promise<boolean>;
  /** Events with `seq > since`, oldest first (the change feed). */
  changes(since: number, limit?: number): Promise<FloriaEvent[]>;
  /**
   * Delivers every event with `seq > since`, first the stored backlog and then live ones as
   * they commit (from any process sharing the database, for PostgreSQL via LISTEN/NOTIFY),
   * in order, without gaps or duplicates. Returns a function that stops delivery.
   */
  subscribe(since: number, listener: EventListener): () => void;
  /** The sequence number of the newest stored event (0 if none). */
  lastSeq(): Promise<number>;
  close(): Promise<void>;
}
