/**
 * The Floria data model: the shapes every store, compiler, plugin and driver agrees on.
 *
 * Everything here is plain data (JSON-compatible), so it round-trips through every
 * serialization format and crosses process and Wasm boundaries unchanged.
 */

/** A Floria value: what a property holds and what a plugin function receives and returns. */
export type Value = null | boolean | number | string | Value[] | { [key: string]: Value };

/** String-to-string annotations carried by every entity and property. */
export type Metadata = Record<string, string>;

/** The kinds of entity Floria stores. */
export type EntityKind =
  | 'class'
  | 'vertex-template'
  | 'edge-template'
  | 'vertex'
  | 'edge'
  | 'plugin';

export const ENTITY_KINDS: readonly EntityKind[] = [
  'class',
  'vertex-template',
  'edge-template',
  'vertex',
  'edge',
  'plugin',
];

/**
 * An entity's identity: its kind, the directory that holds it and its name there.
 *
 * A directory is a path of segments (`['services', 'hello']`); `[]` is the root. Directories
 * are namespaces and also the scope of access rights: a caller is allowed a subtree.
 */
export interface Id {
  kind: EntityKind;
  directory: string[];
  name: string;
}

/**
 * An expression: how a property's value is computed.
 *
 * `call` invokes `plugin:function` through the plugin dispatch contract with the evaluated
 * arguments (eager), or with the argument expressions themselves when `lazy` is set.
 */
export type Expression =
  | { kind: 'literal'; value: Value }
  | { kind: 'list'; items: Expression[] }
  | { kind: 'map'; entries: Array<{ key: Expression; value: Expression }> }
  | { kind: 'call'; plugin: string; function: string; arguments: Expression[]; lazy?: boolean };

/** A property of an entity. */
export interface Property {
  /** The current value (the last evaluation of `updater`, or what was set). */
  value?: Value;
  /** Evaluated on update; its result becomes `value`. */
  updater?: Expression;
  /** Evaluated on update after `updater`; must return `true`, or a string/list explaining why not. */
  validator?: Expression;
  /** Set once: a later change is refused. */
  readOnly?: boolean;
  metadata?: Metadata;
}

/** Properties by name. */
export type Properties = Record<string, Property>;

/**
 * An event handler declared on an entity: which events call which plugin function.
 * `events` lists event types (`added`, `removed`, `property-changed`, or a custom type);
 * empty means every event about the entity.
 */
export interface EventHandler {
  events: string[];
  plugin: string;
  function: string;
  /** Extra arguments passed after the event. */
  arguments?: Expression[];
}

/** What every entity carries. */
export interface EntityBase {
  id: Id;
  metadata: Metadata;
  /** The classes this entity is directly in (its membership in their ancestors is implied). */
  classes: Id[];
}

/** A class: a tag for selection and typing. An entity in a class is in every ancestor. */
export interface Class extends EntityBase {
  id: Id & { kind: 'class' };
  parents: Id[];
}

/** The number of instances a template makes. */
export interface Count {
  /** How many to make on instantiation (default 1). */
  initial: number;
  min?: number;
  max?: number;
}

/** A vertex template: instantiated into one or more vertexes. Nested via `parent`. */
export interface VertexTemplate extends EntityBase {
  id: Id & { kind: 'vertex-template' };
  /** The containing vertex template, if nested. */
  parent?: Id;
  properties: Properties;
  count?: Count;
  eventHandlers?: EventHandler[];
  /** Optional instantiation hook (`plugin:function`) that adapts the template to its site. */
  instantiator?: { plugin: string; function: string };
}

/**
 * How an edge template finds its target at instantiation: a fixed ID (of a vertex template
 * or vertex), or a finder call that returns one or more vertex IDs.
 */
export type Selector =
  | { kind: 'id'; id: Id }
  | { kind: 'finder'; call: Expression & { kind: 'call' } };

/** An edge template: instantiated into edges from instances of `source`. */
export interface EdgeTemplate extends EntityBase {
  id: Id & { kind: 'edge-template' };
  /** The vertex template the edge goes out of. */
  source: Id;
  selector: Selector;
  /**
   * When true, a source instance for which the selector yields no target (a finder that finds
   * nothing, a vertex template without instances) gets no edge, instead of the instantiation
   * failing with `TargetNotFound`. A finder that fails, or a vertex that does not exist, is
   * still an error.
   */
  optional?: boolean;
  properties: Properties;
  eventHandlers?: EventHandler[];
}

/** A vertex: a node of the graph, possibly nested in another vertex. */
export interface Vertex extends EntityBase {
  id: Id & { kind: 'vertex' };
  /** The template it was instantiated from, if any (it need not keep matching it). */
  template?: Id;
  /** The containing vertex, if nested. */
  parent?: Id;
  properties: Properties;
  eventHandlers?: EventHandler[];
}

/** An edge: a first-class, directed relationship with its own properties. */
export interface Edge extends EntityBase {
  id: Id & { kind: 'edge' };
  template?: Id;
  source: Id;
  target: Id;
  properties: Properties;
  eventHandlers?: EventHandler[];
}

/** A registered plugin: its name, kind and content digest (the content lives beside it). */
export interface PluginEntity extends EntityBase {
  id: Id & { kind: 'plugin' };
  pluginKind: 'wasm' | 'executable' | 'typescript';
  /** `sha256:<hex>` of the module, executable or source. */
  digest: string;
  /** Where the content is: a path, or `inline:` for content stored in `content`. */
  location: string;
  /** Base64 content when stored inline (e.g. a Wasm module shipped in a CSAR). */
  content?: string;
  /** Host functions this plugin is granted. */
  grants: string[];
}

/** Any Floria entity. */
export type Entity = Class | VertexTemplate | EdgeTemplate | Vertex | Edge | PluginEntity;

/** An event: something happened to an entity (or a custom event), with a sequence number. */
export interface FloriaEvent {
  /** Assigned by the store, strictly increasing; 0 until stored. */
  seq: number;
  /** `added`, `removed`, `property-changed`, or a custom type. */
  type: string;
  /** The entity the event is about. */
  id: Id;
  /** ISO 8601 time of the change. */
  time: string;
  /**
   * Details: for `property-changed`, `{ property, old, new }`; for `removed`, `{ entity }` (the
   * entity as it was); free-form for custom events.
   */
  data?: Value;
}
